import { parseFstab } from "../../mounts.js";
import type { Finding, Proposal } from "../types.js";
import { escapeRegExp } from "../words.js";
import { type ConfigFile, configEdit, rebuildBoot } from "./config.js";
import { badBoots, bootLastGood, type ClassContext, journalEvidence, unitPath } from "./context.js";
import { emergencyRecord } from "./reach.js";

/** Add "nofail" to the `fileSystems."<target>"` entry: inside its `options = [ … ]`, or as a new line of its block. */
export function addNofail(file: ConfigFile, target: string): { text: string; line: number } | null {
  const q = escapeRegExp(target);
  const lines = file.text.split("\n");
  const head = lines.findIndex(
    (l) => new RegExp(`fileSystems\\s*\\.\\s*"${q}"\\s*=\\s*(\\{|$)`).test(l) && !/^\s*#/.test(l),
  );
  if (head >= 0) {
    // nixos-generate-config writes `fileSystems."/x" =` then `{ device = …;` on the next line
    let depth = 0;
    let opened = false;
    for (let i = head; i < lines.length; i++) {
      const l = lines[i] as string;
      if (depth === 1 && /^\s*options\s*=\s*\[/.test(l)) {
        if (/"nofail"/.test(l)) return null;
        lines[i] = l.replace(/\[\s*/, '[ "nofail" ');
        return { text: lines.join("\n"), line: i + 1 };
      }
      const opens = (l.match(/\{/g) ?? []).length;
      depth += opens - (l.match(/\}/g) ?? []).length;
      if (opens) opened = true;
      if (opened && depth <= 0) {
        if (i === head) return null; // a one-line entry: left to the operator
        const indent = /^(\s*)/.exec(lines[i - 1] ?? "")?.[1] ?? "    ";
        lines.splice(i, 0, `${indent}options = [ "nofail" ];`);
        return { text: lines.join("\n"), line: i + 1 };
      }
      if (i > head + 40) return null;
    }
    return null;
  }
  const attr = lines.findIndex(
    (l) => new RegExp(`fileSystems\\s*\\.\\s*"${q}"\\s*\\.\\s*device\\s*=`).test(l) && !/^\s*#/.test(l),
  );
  if (attr < 0) return null;
  const indent = /^(\s*)/.exec(lines[attr] as string)?.[1] ?? "";
  lines.splice(attr + 1, 0, `${indent}fileSystems."${target}".options = [ "nofail" ];`);
  return { text: lines.join("\n"), line: attr + 2 };
}

/**
 * A file system systemd mounts in stage 2 failed (its device never appeared, or the mount failed):
 * local-fs.target fails and systemd isolates emergency.target, where no network or sshd run and the
 * root account is often locked. Public reports: https://flo-the.dev/posts/udev ("Timed out waiting
 * for device", "Dependency failed for /mnt/extern", emergency mode on a NixOS server after an update),
 * https://jeroen.dehaas.online/blog/mask-systemd-emergency-mode-on-mount-failure/mask-systemd-emergency-mode-on-mount-failure/
 * (the systemd.mask=emergency.* kernel parameters).
 */
export function mountFailed(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  for (const { g, facts } of badBoots(c)) {
    const mounts = facts.failedUnits.filter((f) => f.unit.endsWith(".mount"));
    const em = emergencyRecord(facts);
    const localFs = facts.failedUnits.find((f) => f.unit === "local-fs.target");
    if (!mounts.length || !(em || localFs)) continue;
    const devices = facts.failedUnits.filter((f) => f.unit.endsWith(".device"));
    const m = mounts[0] as (typeof mounts)[number];
    const target = unitPath(m.unit);
    const fstab = (() => {
      try {
        return parseFstab(g.fstab ?? "").find((e) => e.target === target) ?? null;
      } catch {
        return null;
      }
    })();
    const dev = devices.find((d) => fstab && unitPath(d.unit) === fstab.source) ?? devices[0] ?? null;
    const goodFstab = (() => {
      try {
        return parseFstab(c.lastGood?.fstab ?? "").find((e) => e.target === target) ?? null;
      } catch {
        return null;
      }
    })();
    // the last good generation mounting the same device the same way booted then: the device was there
    const sameInGood =
      goodFstab !== null &&
      fstab !== null &&
      goodFstab.source === fstab.source &&
      !goodFstab.options.includes("nofail");
    const fixes: Proposal[] = [...bootLastGood(c)];
    if (g.bootEntry)
      fixes.push({
        id: `mask-emergency-${g.number}`,
        kind: "kernel-param",
        title: `Boot generation ${g.number} past the failed mount (systemd.mask=emergency.service systemd.mask=emergency.target on its entry)`,
        why: `${target} failed and the boot stopped in emergency mode; with emergency mode masked it continues without ${target}, with the network and sshd`,
        basis: "evidence",
        needsReadWrite: true,
        caution: `for this entry only, until the next rebuild; ${target} stays unmounted, and a later failure gets no emergency shell either. The original entry is kept (…/revert)`,
        evidence: [journalEvidence(m)],
        requests: [
          {
            method: "POST",
            path: `/v1/boot/entries/${g.bootEntry}/kernel-params`,
            body: { add: ["systemd.mask=emergency.service", "systemd.mask=emergency.target"] },
          },
        ],
      });
    for (const file of c.input.configFiles) {
      const edit = addNofail(file, target);
      if (!edit) continue;
      fixes.push(
        configEdit(file, edit.text, {
          id: `nofail-${target}`,
          title: `Mark ${target} nofail in /etc/nixos/${file.path}`,
          why: `a missing ${target} then no longer stops the boot (fstab option nofail: local-fs.target does not require it)`,
          line: edit.line,
          evidence: [journalEvidence(m)],
        }),
        rebuildBoot("nofail takes effect in a new generation"),
      );
      break;
    }
    const why = dev
      ? `its device ${dev.message.replace(/^Timed out waiting for device /, "").replace(/\.$/, "")} never appeared`
      : "the mount failed";
    out.push({
      class: "mount-failed",
      generation: g.number,
      cause: `${target} (${m.unit}) could not be mounted in generation ${g.number}'s boot: ${why}; local-fs.target failed and systemd entered emergency mode, so no network or sshd came up.`,
      confidence: em && (dev || localFs) ? "high" : "medium",
      evidence: [
        ...(dev ? [journalEvidence(dev)] : []),
        journalEvidence(m),
        ...(localFs ? [journalEvidence(localFs)] : []),
        ...(em ? [journalEvidence(em)] : []),
        ...(fstab
          ? [
              {
                kind: "store-path" as const,
                ref: `${g.toplevel ?? "?"}/etc/fstab`,
                detail: `${fstab.source} ${fstab.target} ${fstab.fstype} ${fstab.options.join(",")}`,
              },
            ]
          : []),
      ],
      fixes,
      needs: sameInGood
        ? [
            `generation ${c.lastGood?.number} mounts ${target} from the same device: whether that disk is present (the rescue system's block devices) decides between a dead disk and a renamed one`,
          ]
        : [],
    });
  }
  return out;
}
