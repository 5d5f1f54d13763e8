import type { Finding } from "../types.js";
import { findLine, openConfig } from "./config.js";
import { badBoots, bootLastGood, type ClassContext, goodBootOf, journalEvidence } from "./context.js";
import { logins } from "./reach.js";

/**
 * The server boots and sshd runs, but every login of the operator is refused: keys or password
 * replaced at activation (`users.mutableUsers = false` makes the configuration the only source of
 * both, nixos/modules/config/users-groups.nix). Public reports: the NixOS manual's user management
 * chapter; https://github.com/nixos-lima/nixos-lima/issues/91 ("Permission denied (publickey)" after a rebuild).
 */
export function loginsRefused(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  const good = goodBootOf(c);
  const known = new Map<string, ReturnType<typeof logins>["accepted"][number]>();
  for (const b of c.input.boots) for (const a of logins(b).accepted) known.set(a.user, a);
  if (good) for (const a of logins(good.facts).accepted) known.set(a.user, a);
  for (const { g, facts } of badBoots(c)) {
    const l = logins(facts);
    if (l.accepted.length) continue;
    const refused = l.refused.filter((x) => known.has(x.user));
    if (!refused.length) continue;
    const users = [...new Set(refused.map((x) => x.user))];
    const before = users.map((u) => known.get(u)).filter((x) => x !== undefined);
    const immutable = findLine(c.input.configFiles, /mutableUsers\s*=\s*false/);
    const keys = findLine(
      c.input.configFiles,
      /authorizedKeys|hashedPassword|initialHashedPassword|passwordFile/,
    );
    out.push({
      class: "logins-refused",
      generation: g.number,
      cause: `Every SSH login of ${users.join(", ")} was refused on generation ${g.number} (${refused.length} refused, none accepted) while ${users.join(", ")} logged in before: the keys or password of ${users.join(", ")} changed with this generation${immutable ? " (users.mutableUsers = false: activation replaces them with the configuration's)" : ""}.`,
      confidence: immutable ? "high" : "medium",
      evidence: [
        ...before.map((a) => journalEvidence(a.record)),
        ...refused.slice(0, 4).map((x) => journalEvidence(x.record)),
      ],
      fixes: [
        ...bootLastGood(c),
        ...(keys ? [openConfig(keys, `it sets how ${users.join(", ")} logs in`)] : []),
        ...(immutable && immutable.line !== keys?.line
          ? [
              openConfig(
                immutable,
                "with mutableUsers = false the configuration is the only source of keys and passwords",
              ),
            ]
          : []),
      ],
      needs: immutable
        ? []
        : [
            "the generation's users (etc/passwd, etc/ssh/authorized_keys.d) or /etc/nixos's history, to show which key or password changed",
          ],
    });
  }
  return out;
}
