import { parseFstab } from "../../mounts.js";
import type { Finding, Proposal } from "../types.js";
import { escapeRegExp } from "../words.js";
import { configEdit, findLine, rebuildBoot } from "./config.js";
import type { ClassContext } from "./context.js";
import { bootLastGood } from "./context.js";
import { deviceRef, findDevice, STAGE1_PATHS } from "./devices.js";

const entries = (text: string | null | undefined) => {
  try {
    return text ? parseFstab(text) : [];
  } catch {
    return [];
  }
};

/**
 * The root (or another stage-1 file system) names a device no disk has: a wrong UUID or label in
 * `fileSystems` (a reinstalled or replaced disk, a copied hardware-configuration.nix). Stage 1 waits
 * for it ("waiting for device … to appear", nixos/modules/system/boot/stage-1-init.sh) and never
 * reaches the point where a journal is written. Public reports:
 * https://github.com/NixOS/nixpkgs/issues/62444 (nixos-generate-config wrote a no-longer-existing UUID:
 * "the machine will fail to boot"), https://github.com/NixOS/nixpkgs/issues/24584 ("waiting for device to appear").
 */
export function rootDeviceMissing(c: ClassContext): Finding[] {
  const devices = c.input.devices;
  if (!devices || devices.length === 0) return [];
  const out: Finding[] = [];
  const good = c.lastGood ? entries(c.lastGood.fstab) : [];
  for (const g of c.bad) {
    const view = c.gens.find((x) => x.number === g.number);
    if (!view || (view.status !== "no-boot" && view.status !== "unknown")) continue;
    for (const e of entries(g.fstab)) {
      if (!STAGE1_PATHS.includes(e.target)) continue;
      const ref = deviceRef(e.source);
      if (!ref || findDevice(ref, devices)) continue;
      const before = good.find((x) => x.target === e.target);
      const beforeRef = before ? deviceRef(before.source) : null;
      const present = beforeRef ? findDevice(beforeRef, devices) : null;
      const fixes: Proposal[] = [...bootLastGood(c)];
      const hit = findLine(c.input.configFiles, new RegExp(escapeRegExp(ref.id)));
      const file = hit ? c.input.configFiles.find((f) => f.path === hit.path) : undefined;
      if (before && beforeRef && present && hit && file) {
        const replaceWith = beforeRef.by === ref.by ? beforeRef.id : before.source;
        const search = beforeRef.by === ref.by ? ref.id : e.source;
        const lines = file.text.split("\n");
        lines[hit.line - 1] = (lines[hit.line - 1] as string).split(search).join(replaceWith);
        fixes.push(
          configEdit(file, lines.join("\n"), {
            id: `fs-device-${e.target}`,
            title: `Mount ${e.target} from ${before.source} again in /etc/nixos/${file.path}`,
            why: `no disk has ${e.source}; ${before.source} (what generation ${c.lastGood?.number} mounted) is ${present.path}`,
            line: hit.line,
            evidence: [
              { kind: "file", ref: `/etc/nixos/${file.path}`, detail: `line ${hit.line}: ${hit.text}` },
            ],
          }),
          rebuildBoot("the corrected file system takes effect in a new generation"),
        );
      }
      out.push({
        class: "root-device-missing",
        generation: g.number,
        cause: `Generation ${g.number} mounts ${e.target} from ${e.source}, which no disk of this machine has: its stage 1 waits for that device and gives up before the root is mounted${before && present ? `; generation ${c.lastGood?.number} mounted it from ${before.source} (${present.path})` : ""}.`,
        confidence: "high",
        evidence: [
          {
            kind: "store-path",
            ref: `${g.toplevel ?? "?"}/etc/fstab`,
            detail: `${e.source} ${e.target} ${e.fstype}`,
          },
          {
            kind: "file",
            ref: "block devices",
            detail: `no device has ${ref.by === "path" ? "the path" : ref.by.toUpperCase()} ${ref.id} (${devices.length} devices seen)`,
          },
          ...(before && present
            ? [
                {
                  kind: "store-path" as const,
                  ref: `${c.lastGood?.toplevel ?? "?"}/etc/fstab`,
                  detail: `${before.source} ${before.target}: ${present.path}`,
                },
              ]
            : []),
        ],
        fixes,
        needs: [],
      });
    }
  }
  return out;
}
