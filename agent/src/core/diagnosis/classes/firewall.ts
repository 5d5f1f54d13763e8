import type { Evidence, Finding, Proposal } from "../types.js";
import { configEdit, findLine, openConfig, rebuildBoot } from "./config.js";
import { badBoots, bootLastGood, type ClassContext, journalEvidence } from "./context.js";
import { knownAddresses, logins, sshDropped } from "./reach.js";

/**
 * The server boots and sshd runs, but the firewall of the new generation drops the operator's SSH
 * connections: `services.openssh.openFirewall = false` or a `networking.firewall.allowedTCPPorts`
 * without sshd's port. NixOS's firewall logs each refused connection ("refused connection: … DPT=22",
 * nixos/modules/services/networking/firewall-iptables.nix, logRefusedConnections); sshd never sees
 * them. Public reports: https://github.com/NixOS/nixpkgs/pull/81490 (openFirewall off: "I will be unable
 * to contact my machines"), https://github.com/NixOS/nixops/issues/591 (users "locking themselves out"
 * with allowedTCPPorts and the ssh port).
 */
export function firewallBlocksSsh(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  const addrs = knownAddresses(c.input.boots);
  const accepted = c.input.boots.flatMap((b) => logins(b).accepted);
  for (const { g, facts } of badBoots(c)) {
    const dropped = sshDropped(facts, addrs);
    if (!dropped.length) continue;
    const port = dropped[0]?.port ?? 22;
    const srcs = [...new Set(dropped.map((d) => d.src))];
    const before = accepted.find((a) => srcs.some((s) => a.record.message.includes(` from ${s} port `)));
    const listening = (facts.notable ?? []).find((r) =>
      new RegExp(`^Server listening on \\S+ port ${port}\\.$`).test(r.message),
    );
    const closed = findLine(c.input.configFiles, /openssh\.openFirewall\s*=\s*false/);
    const ports = findLine(c.input.configFiles, /firewall\.allowedTCPPorts\s*=\s*\[/);
    const fixes: Proposal[] = [...bootLastGood(c)];
    const hit = closed ?? ports;
    const file = hit ? c.input.configFiles.find((f) => f.path === hit.path) : undefined;
    if (hit && file) {
      const lines = file.text.split("\n");
      const line = lines[hit.line - 1] as string;
      lines[hit.line - 1] = closed
        ? line.replace(/openFirewall\s*=\s*false/, "openFirewall = true")
        : line.replace(/allowedTCPPorts\s*=\s*\[/, (m) => `${m} ${port}`);
      fixes.push(
        configEdit(file, lines.join("\n"), {
          id: `firewall-ssh-${port}`,
          title: closed
            ? `Open sshd's port in the firewall again (services.openssh.openFirewall = true) in /etc/nixos/${file.path}`
            : `Allow TCP port ${port} (sshd) in networking.firewall.allowedTCPPorts in /etc/nixos/${file.path}`,
          why: `the firewall of generation ${g.number} refused the SSH connections from ${srcs.join(", ")}`,
          line: hit.line,
          evidence: [
            { kind: "file", ref: `/etc/nixos/${file.path}`, detail: `line ${hit.line}: ${hit.text}` },
          ],
        }),
        rebuildBoot("the new generation's firewall accepts SSH"),
      );
    } else {
      const any = findLine(c.input.configFiles, /firewall/);
      if (any) fixes.push(openConfig(any, "it configures the firewall"));
    }
    const changed = c.changes?.units?.changed.find((u) => u.unit === "firewall.service");
    const evidence: Evidence[] = [
      ...(before ? [journalEvidence(before.record)] : []),
      ...(listening ? [journalEvidence(listening)] : []),
      ...dropped.slice(0, 3).map((d) => journalEvidence(d.record)),
      ...(changed && c.changes?.to === g.number
        ? [
            {
              kind: "store-path" as const,
              ref: changed.after,
              detail: `firewall.service changed from generation ${c.changes.from}'s (${changed.before})`,
            },
          ]
        : []),
      ...(hit
        ? [{ kind: "file" as const, ref: `/etc/nixos/${hit.path}`, detail: `line ${hit.line}: ${hit.text}` }]
        : []),
    ];
    out.push({
      class: "firewall-blocks-ssh",
      generation: g.number,
      cause: `The firewall of generation ${g.number} refused every SSH connection from ${srcs.join(", ")} (${dropped.length} to port ${port}, none accepted) although sshd ran${before ? ` and ${srcs.join(", ")} logged in before` : ""}${closed ? ": services.openssh.openFirewall = false closes sshd's port" : ports ? `: networking.firewall.allowedTCPPorts does not include ${port}` : ""}.`,
      confidence: hit ? "high" : "medium",
      evidence,
      fixes,
      needs: hit
        ? []
        : [`the generation's firewall rules (its firewall.service script): which option closed port ${port}`],
    });
  }
  return out;
}
