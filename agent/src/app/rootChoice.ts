import { type Altroots, nixDatasetOf } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import type { MountStep } from "../core/plan.js";
import {
  MAX_PROBES,
  type ProbeResult,
  parseBootfs,
  pickRoot,
  probeOrder,
  rolesFromProbes,
  rootDatasetsOf,
} from "../core/systemRoot.js";
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
      if (r.rollbackFailures.length > 0) {
        // still mounted: the run's rollback tries again (and says so if it cannot)
        tx.record(`probe of ${d.name} left mounted at ${dir}`, {
          label: `unmounted ${dir}`,
          kind: "mount",
          fn: async () => {
            const u = await sys.run("umount", [dir]);
            if (u.exitCode !== 0)
              throw new LifeboatError(
                "unmount-failed",
                `unmount ${dir} failed: ${u.stderr.trim().split("\n")[0] ?? ""}`,
              );
          },
        });
        // biome-ignore lint/correctness/noUnsafeFinally: a probe left mounted must stop the run
        throw new LifeboatError(
          "unmount-failed",
          `could not unmount the probe of ${d.name}: ${r.rollbackFailures.join("; ")}`,
          { failedStep: `unmount probe ${d.name}` },
        );
      }
    }
    out.push(result);
  }
  return out;
}

/** What settling the root needs from the mount run (app/mountRun.ts). */
export interface RootContext {
  sys: System;
  tx: Transaction;
  /** Datasets of the imported pools. */
  datasets: Dataset[];
  altroots: Altroots;
  /** The run's warnings (the response says what was chosen and why). */
  warnings: string[];
}

export type Chosen = { root: string | null; nix: string | null } | undefined;

/**
 * Which dataset is `/` before the fstab is read: the operator's pick; else by mountpoint or name,
 * the pool's bootfs among several (boot environments); else, when names tell nothing, a read-only
 * look into the pool's legacy/noauto datasets. Several roots left: the operator picks
 * (`ambiguous-system`, each offered as "pool/dataset"). undefined: names and mountpoints tell.
 */
export async function settleRoot(ctx: RootContext, pool: string, wanted: string | null): Promise<Chosen> {
  if (wanted) {
    const d = ctx.datasets.find((x) => x.pool === pool && x.name === wanted);
    if (!d || d.canmount === "off" || d.mountpoint === "none" || d.mountpoint === "-")
      throw new LifeboatError("no-system-found", `${wanted} is not a mountable dataset of ${pool}`, {
        candidates: rootDatasetsOf(ctx.datasets, pool, ctx.altroots).map((x) => x.name),
      });
    ctx.warnings.push(`/ is ${d.name}, as asked`);
    return { root: d.name, nix: null };
  }
  const roots = rootDatasetsOf(ctx.datasets, pool, ctx.altroots);
  if (roots.length > 1)
    return {
      root: await bootfsAmong(
        ctx,
        pool,
        roots.map((d) => d.name),
      ),
      nix: null,
    };
  if (roots.length === 1 || nixDatasetOf(ctx.datasets, pool, ctx.altroots)) return undefined;
  const { order, capped } = probeOrder(ctx.datasets, pool);
  if (order.length === 0) return undefined;
  const found = rolesFromProbes(await probeDatasets(ctx.sys, ctx.tx, order));
  if (capped > 0)
    ctx.warnings.push(
      `looked into the first ${MAX_PROBES} legacy/noauto datasets of ${pool} only (${capped} more not looked at): name the root with "pool": "${pool}/<dataset>" if it is not found`,
    );
  ctx.warnings.push(...found.notes);
  const root = found.ambiguous.length > 0 ? await bootfsAmong(ctx, pool, found.ambiguous) : found.root;
  return { root, nix: found.nix };
}

/** The pool's bootfs (`zpool get -H -p bootfs`) when it is one of `names`, else `ambiguous-system`. */
export async function bootfsAmong(ctx: RootContext, pool: string, names: string[]): Promise<string> {
  const r = await ctx.sys.run("zpool", ["get", "-H", "-p", "bootfs", pool]);
  const bootfs = r.exitCode === 0 ? parseBootfs(r.stdout, pool) : null;
  const picked = pickRoot(
    ctx.datasets.filter((d) => names.includes(d.name)),
    bootfs,
  );
  if (picked.root) {
    if (picked.note) ctx.warnings.push(picked.note);
    return picked.root.name;
  }
  throw new LifeboatError(
    "ambiguous-system",
    `${pool} holds several roots (${names.join(", ")}) and its bootfs ${bootfs ? `(${bootfs}) is none of them` : "is not set"}: say which with "pool": "<dataset>"`,
    { candidates: names.map((n) => `zfs:${n}`), bootfs },
  );
}

/** A root without its store: the pool's other legacy/noauto dataset holding /nix, by content. */
export async function nixByContent(ctx: RootContext, pool: string, root: string): Promise<string | null> {
  const { order } = probeOrder(ctx.datasets, pool, new Set([root]));
  if (order.length === 0) return null;
  const found = rolesFromProbes(await probeDatasets(ctx.sys, ctx.tx, order));
  if (found.nix) ctx.warnings.push(`${found.nix} holds /nix (found by its content)`);
  return found.nix;
}
