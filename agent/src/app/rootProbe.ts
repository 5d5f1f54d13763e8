import { LifeboatError } from "../core/errors.js";
import type { MountStep } from "../core/plan.js";
import type { ProbeResult } from "../core/systemRoot.js";
import type { Dataset } from "../core/zfs.js";
import type { NodeKind, System } from "../system/system.js";
import { InstalledSystem } from "./installed.js";
import { MountExecutor } from "./mountExec.js";
import type { Transaction } from "./transaction.js";

/**
 * A private directory on the rescue side (a tmpfs, outside the rescue root) where one dataset at
 * a time is mounted read-only to look for NixOS in it; nothing else ever lands there.
 */
export const PROBE_DIR = "/run/lifeboat/probe";
/** Each look is a handful of lstat calls; a dead or hostile disk gets this long per call. */
const LOOK_TIMEOUT_MS = 5_000;

/** Every component of `path` is of the given kinds (lstat each, no link followed, nothing opened). */
async function chain(files: InstalledSystem["files"], path: string, last: NodeKind[]): Promise<boolean> {
  const segs = path.split("/").filter(Boolean);
  for (let i = 1; i <= segs.length; i++) {
    const at = `/${segs.slice(0, i).join("/")}`;
    let kind: NodeKind | undefined;
    try {
      kind = (await files.stat(at, { follow: false }))?.kind;
    } catch (err) {
      // an unsafe or unreadable entry is not a marker; a hung or failing disk is reported
      if (err instanceof LifeboatError && (err.code === "unsafe-file" || err.code === "not-found"))
        return false;
      throw err;
    }
    if (i === segs.length) return kind !== undefined && last.includes(kind);
    if (kind !== "dir") return false;
  }
  return false;
}

/** The markers at the top of the tree mounted at `dir`. */
async function look(sys: System, dir: string, dataset: string): Promise<ProbeResult> {
  const files = new InstalledSystem(sys, dir, { timeoutMs: LOOK_TIMEOUT_MS }).files;
  return {
    dataset,
    etcNixos: await chain(files, "/etc/NIXOS", ["file"]),
    systemProfile: await chain(files, "/nix/var/nix/profiles/system", ["link", "dir"]),
    nixDir: await chain(files, "/nix", ["dir"]),
    store: await chain(files, "/store", ["dir"]),
    profiles: await chain(files, "/var/nix/profiles", ["dir"]),
  };
}

/**
 * Mount each dataset read-only (ro,nodev,nosuid,noexec; a read-only import writes nothing) on
 * PROBE_DIR through the confined door, look for the NixOS markers, unmount it again (always,
 * also on error) before the next: never more than one probe mounted. A probe that cannot be
 * unmounted stops everything (`unmount-failed`; the caller's transaction rolls back the rest).
 */
export async function probeDatasets(
  sys: System,
  tx: Transaction,
  datasets: readonly Dataset[],
  dir = PROBE_DIR,
): Promise<ProbeResult[]> {
  const exec = new MountExecutor(sys, dir, tx, true);
  const out: ProbeResult[] = [];
  for (const d of datasets) {
    const mark = tx.mark();
    const step: MountStep = {
      kind: "mount",
      role: "other",
      source: d.name,
      target: dir,
      path: "/",
      fstype: "zfs",
      options: ["ro", ...(d.mountpoint === "legacy" ? [] : ["zfsutil"]), "nodev", "nosuid", "noexec"],
      method: "mount",
      origin: "datasets",
      parent: null,
    };
    let result: ProbeResult;
    try {
      await exec.mount(step, false);
      result = await look(sys, dir, d.name);
    } catch (err) {
      const message = err instanceof LifeboatError ? err.message : "unexpected error";
      result = {
        dataset: d.name,
        etcNixos: false,
        systemProfile: false,
        nixDir: false,
        store: false,
        profiles: false,
        error: message,
      };
    } finally {
      const r = await tx.rollbackTo(mark);
      if (r.rollbackFailures.length > 0)
        // biome-ignore lint/correctness/noUnsafeFinally: a probe left mounted must stop the run
        throw new LifeboatError(
          "unmount-failed",
          `could not unmount the probe of ${d.name}: ${r.rollbackFailures.join("; ")}`,
          { failedStep: `unmount probe ${d.name}` },
        );
    }
    out.push(result);
  }
  return out;
}
