import type { Finding } from "../types.js";
import { escapeRegExp } from "../words.js";
import { findLine, openConfig } from "./config.js";
import { badBoots, bootLastGood, type ClassContext, journalEvidence } from "./context.js";
import { SSHD_UNIT } from "./reach.js";

/**
 * sshd failed to start: the server boots but nobody can log in. Public report:
 * https://github.com/NixOS/nixpkgs/issues/4748 ("fatal: Cannot bind any address." then "Failed to start SSH Daemon.").
 */
export function sshdFailed(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  for (const { g, facts } of badBoots(c)) {
    const fail = facts.failedUnits.find((f) => SSHD_UNIT.test(f.unit));
    if (!fail) continue;
    const own = (facts.notable ?? []).filter(
      (r) => (r.identifier === "sshd" || r.unit === fail.unit) && r.priority !== null && r.priority <= 3,
    );
    const first =
      own.find((r) => r.identifier === "sshd" && r.priority !== null && r.priority <= 2) ??
      own.find((r) => r.identifier === "sshd") ??
      null;
    // "/etc/ssh/sshd_config line 12: Bad configuration option: X" names the setting; else look for openssh
    const option = first ? /Bad configuration option: (\S+)/.exec(first.message)?.[1] : undefined;
    // "error: Bind to port 22 on 192.168.77.222 failed: Cannot assign requested address." names the address
    const bind = own
      .map((r) => /^error: Bind to port \d+ on (\S+) failed/.exec(r.message)?.[1])
      .find((x) => x !== undefined);
    const esc = escapeRegExp;
    const hit =
      (option ? findLine(c.input.configFiles, new RegExp(option.replace(/[^A-Za-z0-9]/g, ""), "i")) : null) ??
      (bind ? findLine(c.input.configFiles, new RegExp(esc(bind.replace(/^\[|\]$/g, "")))) : null) ??
      findLine(c.input.configFiles, /services\.openssh|openssh\s*=|\bsshd\b/);
    out.push({
      class: "sshd-failed",
      generation: g.number,
      cause: `sshd did not start in generation ${g.number}'s boot${first ? ` (sshd: "${first.message}")` : ""}, so the server could not be logged into although it booted.`,
      confidence: "high",
      evidence: [journalEvidence(fail), ...own.slice(0, 4).map(journalEvidence)],
      fixes: [
        ...bootLastGood(c),
        ...(hit
          ? [openConfig(hit, `it configures the SSH daemon that failed in generation ${g.number}`)]
          : []),
      ],
      needs: first
        ? []
        : ["sshd's own error line of that boot (SYSLOG_IDENTIFIER=sshd, priority err or worse)"],
    });
  }
  return out;
}
