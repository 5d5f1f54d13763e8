import { mkdirSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { listDatasets, listDuringImport, POOL_KSTATS } from "../../agent/src/app/datasets.js";
import type { CommandResult } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { mountedTargets, rig, SEED_MOUNT_COMMANDS, SEED_TARGETS } from "./harness.js";

/**
 * The root pool's listing started while `zpool import` runs: the kernel shows the pool (its kstat
 * directory) before the import ends, and a listing's first question waits for the import's end (the
 * namespace lock, modelled here by holding `zfs list` until the import is let go).
 */
async function machine(opts: { failEarlyList?: boolean } = {}) {
  let importing: (() => void) | null = null;
  let imported: Promise<void> = Promise.resolve();
  /** Only the first import is held (a retry without -d runs at once). */
  let held = false;
  const r = await rig("single", {
    fake: {
      hold: (file, args) => {
        if (file === "zpool" && args[0] === "import" && args.includes("-N") && !held) {
          held = true;
          imported = new Promise<void>((res) => {
            importing = res;
          });
          return imported;
        }
        // the pool's first ioctl waits for the import (spa_namespace_lock)
        if (file === "zfs" && args[0] === "list" && importing) return imported;
        return undefined;
      },
      // the listing started during the import fails (an I/O error); the ones after it do not
      fail: (file, args) =>
        opts.failEarlyList && importing && file === "zfs" && args[0] === "list"
          ? { stderr: "cannot open 'nvmepool': I/O error\n" }
          : undefined,
    },
  });
  // the pool was exported by this machine: no hostid to adopt, one import
  for (const p of r.sys.cfg.pools) p.lastHostId = r.sys.hostid;
  const kstat = () => mkdirSync(`${r.dir}${POOL_KSTATS}/nvmepool`, { recursive: true });
  const release = () => {
    const go = importing as (() => void) | null;
    importing = null;
    go?.();
  };
  const lines = () => r.sys.commandLines().map((l) => l.split(" ").slice(0, 2).join(" "));
  return { r, kstat, release, lines };
}

describe("the root pool's listing starts during its import", () => {
  /** A mount whose import is held until the pool shows and the listing has started. */
  async function mountWhileShown(opts: { failEarlyList?: boolean } = {}) {
    const { r, kstat, release, lines } = await machine(opts);
    await r.detection.refresh();
    const mark = lines().length;
    const mounting = r.mounts.mount();
    await vi.waitFor(() => expect(lines().slice(mark)).toContain("zpool import"));
    kstat();
    await vi.waitFor(() => expect(lines().slice(mark)).toEqual(["zpool import", "zfs list"]));
    release();
    const res = await mounting;
    return { r, res, ran: lines().slice(mark) };
  }

  it("the pool shows in the kernel: the listing starts before the import ends, runs once, and its answer is used", async () => {
    const { r, res, ran } = await mountWhileShown();
    expect(res.result).toBe("mounted");
    expect(ran).toEqual(SEED_MOUNT_COMMANDS);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("the pool never shows before the import ends: the listing runs after it, as without", async () => {
    const { r, release, lines } = await machine();
    await r.detection.refresh();
    const mark = lines().length;
    const mounting = r.mounts.mount();
    await vi.waitFor(() => expect(lines().slice(mark)).toContain("zpool import"));
    await new Promise((res) => setTimeout(res, 50));
    expect(lines().slice(mark)).toEqual(["zpool import"]);
    release();
    expect((await mounting).result).toBe("mounted");
    expect(lines().slice(mark).slice(0, 2)).toEqual(["zpool import", "zfs list"]);
    expect(
      lines()
        .slice(mark)
        .filter((l) => l === "zfs list"),
    ).toHaveLength(1);
  });

  it("the listing started during the import fails: listed again after it, mounted as without", async () => {
    const { r, res, ran } = await mountWhileShown({ failEarlyList: true });
    expect(res.result).toBe("mounted");
    expect(res.warnings.join("\n")).not.toContain("zfs list");
    expect(ran).toEqual(["zpool import", "zfs list", ...SEED_MOUNT_COMMANDS.slice(1)]);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("the import fails after the pool showed: the listing is stopped and not used, nothing is left mounted or imported", async () => {
    const { r, kstat, release, lines } = await machine();
    await r.detection.refresh();
    const mark = lines().length;
    const mounting = r.mounts.mount();
    mounting.catch(() => undefined);
    await vi.waitFor(() => expect(lines().slice(mark)).toContain("zpool import"));
    kstat();
    await vi.waitFor(() => expect(lines().slice(mark)).toContain("zfs list"));
    // what the kernel answers at the end of a failed load
    for (const p of r.sys.cfg.pools) p.unavailable = true;
    release();
    const err = await rejection(mounting);
    expect(err.code).toBe("pool-unavailable");
    expect(r.sys.running.size).toBe(0);
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(r.sys.imported.size).toBe(0);
  });
});

describe("listDuringImport", () => {
  /** The fake with an import in flight (held until `release`). */
  async function sys() {
    const { r, kstat, release } = await machine();
    const importing = r.sys.run("zpool", ["import", "-N", "-R", "/mnt", "nvmepool"]);
    return {
      s: r.sys,
      kstat,
      release: async () => {
        release();
        await importing;
      },
      dir: r.dir,
      lines: () => r.sys.commandLines().filter((l) => l.startsWith("zfs")),
    };
  }

  it("a pool the kernel held before: nothing starts (the import of another pool of that name fails)", async () => {
    const { s, kstat, lines } = await sys();
    kstat();
    const l = listDuringImport(s, "nvmepool");
    await new Promise((res) => setTimeout(res, 40));
    expect(await l.take(true)).toBeNull();
    expect(lines()).toEqual([]);
  });

  it("a name no pool can have (a path, a leading digit): nothing starts, even when its path shows during the import", async () => {
    const { s, dir, lines } = await sys();
    for (const name of ["../../../tmp", "a/b", "0pool", ""]) {
      const l = listDuringImport(s, name);
      await new Promise((res) => setTimeout(res, 20));
      // what would start a listing for a valid name (the path the watch would look at)
      if (name !== "") mkdirSync(`${dir}${POOL_KSTATS}/${name}`, { recursive: true });
      await new Promise((res) => setTimeout(res, 30));
      expect(await l.take(true)).toBeNull();
    }
    expect(lines()).toEqual([]);
  });

  it("taken after a failed import: the listing started meanwhile is stopped and awaited, null", async () => {
    const { s, kstat, release } = await sys();
    const failed = listDuringImport(s, "nvmepool");
    await new Promise((res) => setTimeout(res, 20));
    kstat();
    await vi.waitFor(() => expect(s.running.size).toBe(2));
    expect(await failed.take(false)).toBeNull();
    expect(s.running.size).toBe(1);
    await release();
  });

  it("a listing started during the import that failed is run again after it", async () => {
    const { s, release } = await sys();
    await release();
    s.imported.set("nvmepool", { readonly: true, altroot: "/mnt", forced: false });
    const failed = {
      result: Promise.resolve({
        exitCode: 1,
        stdout: "",
        stderr: "cannot open 'nvmepool': dataset does not exist\n",
        timedOut: false,
        notFound: false,
        durationMs: 1,
      }),
      stop: () => undefined,
    };
    const warnings: string[] = [];
    const datasets = await listDatasets(s, ["nvmepool"], warnings, { running: failed });
    expect(datasets.map((d) => d.name)).toContain("nvmepool/root");
    expect(warnings).toEqual([]);
    expect(s.commandLines().filter((l) => l.startsWith("zfs list"))).toHaveLength(1);
  });

  it("one still running when the split listing's time is up (a big pool): stopped, and the split listing answers", async () => {
    const { s, release } = await sys();
    await release();
    let stopped = false;
    let end: (r: CommandResult) => void = () => undefined;
    const running = {
      result: new Promise<CommandResult>((res) => {
        end = res;
      }),
      stop: () => {
        stopped = true;
        end({ exitCode: 143, stdout: "", stderr: "", timedOut: false, notFound: false, durationMs: 1 });
      },
    };
    const warnings: string[] = [];
    const datasets = await listDatasets(s, ["nvmepool"], warnings, { running, splitAfterMs: 5 });
    expect(stopped).toBe(true);
    expect(datasets.map((d) => d.name)).toContain("nvmepool/root");
    expect(warnings).toEqual([]);
    const lists = s.commandLines().filter((l) => l.startsWith("zfs list"));
    expect(lists.length).toBeGreaterThan(0);
    expect(lists.every((l) => l.includes(" -d 1 "))).toBe(true);
  });
});
