import type { JournalRecord } from "../../journalBoots.js";
import type { Finding, Proposal } from "../types.js";
import { escapeRegExp } from "../words.js";
import { configEdit, findLine, rebuildBoot } from "./config.js";
import { badBoots, bootLastGood, type ClassContext, journalEvidence } from "./context.js";
import { NETWORK_UNIT } from "./reach.js";

/** The interface a NixOS network unit is about: network-addresses-eth0.service, sys-subsystem-net-devices-eth0.device. */
function interfaceOf(unit: string): string | null {
  const m =
    /^network-(?:addresses|link)-(.+)\.service$/.exec(unit) ??
    /^sys-subsystem-net-devices-(.+)\.device$/.exec(unit);
  return m
    ? (m[1] as string).replace(/\\x([0-9a-fA-F]{2})/g, (_x, h: string) =>
        String.fromCharCode(Number.parseInt(h, 16)),
      )
    : null;
}

/** The kernel's "<driver> <bus-id> ens3: renamed from eth0" (net/core/dev.c, netdev_info). */
function renames(records: JournalRecord[]): { from: string; to: string; record: JournalRecord }[] {
  const out: { from: string; to: string; record: JournalRecord }[] = [];
  for (const r of records) {
    if (r.transport !== "kernel") continue; // only the kernel's own line counts, not a process's text
    const m = /(?:^|\s)([^\s:]+): renamed from (\S+)$/.exec(r.message);
    if (m) out.push({ to: m[1] as string, from: m[2] as string, record: r });
  }
  return out;
}

/**
 * The network the configuration names never came up: an interface that got another name (the
 * predictable names udev gives since NixOS 16.03), or its unit failed. Public reports:
 * https://github.com/NixOS/nixpkgs/issues/154737 ("Timed out waiting for device /sys/subsystem/net/devices/…"),
 * https://github.com/jeaye/nixos-in-place/issues/1 (eth0 became enp0s3).
 */
export function networkMissing(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  for (const { g, facts } of badBoots(c)) {
    const failed = facts.failedUnits.filter((f) => NETWORK_UNIT.test(f.unit));
    if (!failed.length) continue;
    const ifaces = [
      ...new Set(failed.map((f) => interfaceOf(f.unit)).filter((x): x is string => x !== null)),
    ];
    const ren = renames(facts.notable ?? []);
    const renamed = ren.find((r) => ifaces.includes(r.from));
    const iface = renamed?.from ?? ifaces[0] ?? null;
    const fixes: Proposal[] = [...bootLastGood(c)];
    if (renamed) {
      const word = new RegExp(`(^|[^A-Za-z0-9_-])${escapeRegExp(renamed.from)}(?=$|[^A-Za-z0-9_-])`, "g");
      const hit = findLine(c.input.configFiles, new RegExp(word.source));
      const file = hit ? c.input.configFiles.find((f) => f.path === hit.path) : undefined;
      if (hit && file) {
        const after = file.text
          .split("\n")
          .map((l) => (/^\s*#/.test(l) ? l : l.replace(word, `$1${renamed.to}`)))
          .join("\n");
        fixes.push(
          configEdit(file, after, {
            id: `rename-interface-${renamed.from}-${renamed.to}`,
            title: `Name the interface ${renamed.to} instead of ${renamed.from} in /etc/nixos/${file.path}`,
            why: `the kernel of generation ${g.number}'s boot renamed ${renamed.from} to ${renamed.to}; the configuration still configures ${renamed.from}`,
            line: hit.line,
            evidence: [
              journalEvidence(renamed.record),
              { kind: "file", ref: `/etc/nixos/${file.path}`, detail: `line ${hit.line}: ${hit.text}` },
            ],
          }),
          rebuildBoot(`the new name takes effect in a new generation`),
        );
      }
    }
    out.push({
      class: "network-missing",
      generation: g.number,
      cause: renamed
        ? `Generation ${g.number} configures the network on ${renamed.from}, but the kernel named that interface ${renamed.to} ("${renamed.record.message}"): ${failed.map((f) => f.unit).join(", ")} failed and the server had no address.`
        : `The network of generation ${g.number} did not come up: ${failed.map((f) => f.unit).join(", ")} failed${iface ? ` (interface ${iface})` : ""}, so the server could not be reached.`,
      confidence: renamed ? "high" : "medium",
      evidence: [
        ...failed.slice(0, 4).map(journalEvidence),
        ...(renamed ? [journalEvidence(renamed.record)] : []),
      ],
      fixes,
      needs: renamed
        ? []
        : [
            `the names the kernel gave the interfaces in that boot (the kernel's "renamed from" lines) or the interface names the rescue system sees on this machine (ip link)`,
          ],
    });
  }
  return out;
}
