/**
 * Detection is stale-while-revalidate (issue 13): readers never wait for a refresh they do not
 * need, one refresh runs at a time, a change invalidates, and the device scan (`zpool import`,
 * which reads every disk's labels) runs only when something may have changed. On the recording
 * fake with real captures; the slow command is held by a gate (a signal, not a sleep).
 */
import { mkdir, rm, utimes } from "node:fs/promises";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { DetectionService } from "../../agent/src/app/detect.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import type { System } from "../../agent/src/system/system.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, sandbox } from "../helpers/fixtures.js";

const MAX_AGE = 3_000;
const FULL_AGE = 60_000;

/** A fake machine whose `lsblk` can be held until released, and a clock the test moves. */
async function machine(kase = "single") {
  const dir = await sandbox();
  const sys = new FakeSystem(fakeConfig(kase, dir));
  let gate: { open: Promise<void>; release: () => void } | null = null;
  const gated = new Proxy(sys, {
    get(target, prop, receiver) {
      if (prop !== "run") return Reflect.get(target, prop, receiver);
      return async (file: string, args: readonly string[], opts?: object) => {
        if (file === "lsblk" && gate) await gate.open;
        return target.run(file, args, opts);
      };
    },
  }) as System;
  let now = Date.parse("2026-11-30T12:00:00Z");
  const clock = {
    tick: (ms: number) => {
      now += ms;
    },
  };
  const det = new DetectionService(gated, pino({ level: "silent" }), "/mnt", MAX_AGE, {
    now: () => now,
    fullAgeMs: FULL_AGE,
  });
  const hold = () => {
    let release = () => {};
    const open = new Promise<void>((r) => {
      release = r;
    });
    gate = {
      open,
      release: () => {
        gate = null;
        release();
      },
    };
    return gate;
  };
  const commands = () => sys.commandLines();
  const scans = () => commands().filter((l) => l === "zpool import").length;
  /** Until the background refresh (if any) has finished: a signal, polled once per turn of the loop. */
  const settled = async (d: Awaited<ReturnType<DetectionService["current"]>>) => {
    while (det.age(d).refreshing) await new Promise((r) => setImmediate(r));
  };
  return { dir, sys, det, clock, hold, commands, scans, settled };
}

describe("stale-while-revalidate detection", () => {
  it("a reader gets the last detection at once, with its age, while one refresh runs in the background", async () => {
    const m = await machine();
    const first = await m.det.current();
    expect(m.scans()).toBe(1);
    expect(m.det.age(first)).toEqual({ at: first.at, ageMs: 0, refreshing: false });
    // Old enough for a full detection even though nothing seems to have changed (pool health).
    m.clock.tick(FULL_AGE + 1);
    const gate = m.hold();
    const lsblkBefore = m.commands().filter((l) => l.startsWith("lsblk")).length;
    // The refresh is held at lsblk: readers do not wait for it.
    expect(await m.det.current()).toBe(first);
    expect(await m.det.current()).toBe(first);
    expect(m.det.age(first)).toMatchObject({ ageMs: FULL_AGE + 1, refreshing: true });
    // One refresh at a time: the two readers started one between them.
    await new Promise((r) => setImmediate(r));
    gate.release();
    await m.settled(first);
    expect(m.commands().filter((l) => l.startsWith("lsblk")).length).toBe(lsblkBefore + 1);
    const second = await m.det.current();
    expect(second).not.toBe(first);
    expect(Date.parse(second.at) - Date.parse(first.at)).toBe(FULL_AGE + 1);
    // Time passing is no reason to scan the devices again.
    expect(m.scans()).toBe(1);
  });

  it("polling runs no command while nothing changes; a mount or pool import made by hand is noticed", async () => {
    const m = await machine();
    let d = await m.det.current();
    const before = m.commands().length;
    for (let i = 0; i < 5; i++) {
      m.clock.tick(MAX_AGE + 1);
      expect(await m.det.current()).toBe(d);
      await m.settled(d);
    }
    expect(m.commands().length).toBe(before);
    // Someone mounts something under the root from a shell: the next look sees /proc/mounts differ.
    m.sys.mounts.push({ source: "/dev/sdz1", target: "/mnt", fstype: "ext4", options: ["ro"] });
    m.clock.tick(MAX_AGE + 1);
    expect(await m.det.current()).toBe(d);
    await m.settled(d);
    d = await m.det.current();
    expect(d.mounts.map((x) => x.target)).toEqual(["/mnt"]);
    expect(m.commands().length).toBeGreaterThan(before);
    // A pool imported by hand: OpenZFS adds /proc/spl/kstat/zfs/<pool>.
    const after = m.commands().length;
    await mkdir(`${m.dir}/proc/spl/kstat/zfs/tank`, { recursive: true });
    m.clock.tick(MAX_AGE + 1);
    await m.det.current();
    await m.settled(d);
    expect(m.commands().length).toBeGreaterThan(after);
    expect(m.scans()).toBe(1);
  });

  it("young detections are served without running anything", async () => {
    const m = await machine();
    await m.det.current();
    const before = m.commands().length;
    m.clock.tick(MAX_AGE - 1);
    await m.det.current();
    await m.det.current();
    expect(m.commands().length).toBe(before);
  });

  it("a change invalidates: after refresh() the next reader waits for a detection that saw the change", async () => {
    const m = await machine();
    const before = await m.det.current();
    expect(before.mounts).toEqual([]);
    // A change on the machine (a mount under the root), then the change's refresh, not awaited
    // (as MountService does on the way out of a locked-dataset pause).
    m.sys.mounts.push({ source: "/dev/sdz1", target: "/mnt", fstype: "ext4", options: ["ro"] });
    const gate = m.hold();
    void m.det.refresh();
    const reader = m.det.current();
    gate.release();
    const after = await reader;
    expect(after).not.toBe(before);
    expect(after.mounts.map((x) => x.target)).toEqual(["/mnt"]);
  });

  it("refresh() during a running refresh queues a new one; readers get the queued one", async () => {
    const m = await machine();
    await m.det.current();
    m.clock.tick(MAX_AGE + 1);
    const gate = m.hold();
    const stale = await m.det.current(); // starts a background refresh, held at lsblk
    m.sys.mounts.push({ source: "/dev/sdz1", target: "/mnt", fstype: "ext4", options: ["ro"] });
    const changed = m.det.refresh();
    const reader = m.det.current();
    gate.release();
    const [c, r] = await Promise.all([changed, reader]);
    expect(r).toBe(c);
    expect(r).not.toBe(stale);
    expect(r.mounts.map((x) => x.target)).toEqual(["/mnt"]);
  });

  it("the device scan runs at start, on ?refresh=1, after refresh(), and when block devices change — not with age", async () => {
    const m = await machine();
    await mkdir(`${m.dir}/sys/class/block/nvme0n1`, { recursive: true });
    let d = await m.det.current();
    expect(m.scans()).toBe(1);
    for (let i = 0; i < 3; i++) {
      m.clock.tick(FULL_AGE + 1);
      await m.det.current();
      await m.settled(d);
      d = await m.det.current();
    }
    expect(m.scans()).toBe(1);
    expect(m.commands().filter((l) => l.startsWith("lsblk"))).toHaveLength(4);
    // A disk appears (USB stick, NVMe late to enumerate, a LUKS mapping): the next refresh scans.
    await mkdir(`${m.dir}/sys/class/block/sdb`);
    m.clock.tick(MAX_AGE + 1);
    await m.det.current();
    await m.settled(d);
    expect(m.scans()).toBe(2);
    // An explicit ?refresh=1 and a change's refresh() scan; refresh({scan:false}) does not.
    await m.det.current(true);
    expect(m.scans()).toBe(3);
    await m.det.refresh();
    expect(m.scans()).toBe(4);
    await m.det.refresh({ scan: false });
    expect(m.scans()).toBe(4);
  });

  it("without a scan, the importable list is the last scan's less the pools imported since", async () => {
    const m = await machine();
    const before = await m.det.current();
    expect(before.importable.map((p) => p.name)).toEqual(["nvmepool"]);
    // The import the mount would run (the fake models it and the hostid check).
    await m.sys.run("hostid", []);
    m.sys.hostid = "8425e349";
    expect(
      (await m.sys.run("zpool", ["import", "-N", "-R", "/mnt", "-o", "readonly=on", "nvmepool"])).exitCode,
    ).toBe(0);
    const after = await m.det.refresh({ scan: false });
    expect(after.importable).toEqual([]);
    expect(after.imported.map((p) => p.name)).toEqual(["nvmepool"]);
    expect(m.scans()).toBe(1);
  });

  it("while a change holds the lock, a stale detection starts no refresh (a scan would break an import)", async () => {
    const m = await machine();
    const lock = new OperationLock();
    m.det.pauseWhile(() => lock.busy !== null);
    const d = await m.det.current();
    const release = lock.acquire("mount");
    m.clock.tick(MAX_AGE * 10);
    const before = m.commands().length;
    expect(await m.det.current()).toBe(d);
    expect(await m.det.current(true)).toBe(d);
    expect(m.commands().length).toBe(before);
    release();
  });

  it("invalidate() marks the last detection out of date without running anything; forChange() reuses a valid one", async () => {
    const m = await machine();
    const lock = new OperationLock();
    m.det.pauseWhile(() => lock.busy !== null);
    const d = await m.det.current();
    const before = m.commands().length;
    // The change lock's holder: the valid detection, no command.
    const release = lock.acquire("mount");
    expect(await m.det.forChange()).toBe(d);
    expect(m.commands().length).toBe(before);
    // It mounts, reads the kernel's table itself and says so; readers during the lock see that table.
    const table = [{ source: "/dev/sdz1", target: "/mnt", fstype: "ext4", options: ["ro"] }];
    m.sys.mounts.push(table[0] as (typeof m.sys.mounts)[number]);
    m.det.invalidate(table);
    expect(m.commands().length).toBe(before);
    expect((await m.det.current()).mounts).toEqual(table);
    release();
    // After the change the next reader waits for a new detection (with the device scan).
    const after = await m.det.current();
    expect(after).not.toBe(d);
    expect(after.mounts.map((x) => x.target)).toEqual(["/mnt"]);
    expect(m.scans()).toBe(2);
    // forChange() after an invalidation detects anew (scanning only if asked to).
    m.det.invalidate(undefined, { scan: false });
    const fresh = await m.det.forChange();
    expect(fresh).not.toBe(after);
    expect(m.scans()).toBe(2);
  });

  it("start() begins the first detection in the background, once", async () => {
    const m = await machine();
    const gate = m.hold();
    m.det.start();
    m.det.start();
    const reader = m.det.current();
    gate.release();
    await reader;
    expect(m.scans()).toBe(1);
  });

  it("nothing lists snapshots; datasets are listed once per refresh, encryption roots asked for alone", async () => {
    const dir = await sandbox();
    const sys = new FakeSystem(fakeConfig("encrypted", dir));
    sys.hostid = "8425e349";
    await sys.run("zpool", ["import", "-N", "-R", "/mnt", "-o", "readonly=on", "nvmepool"]);
    const det = new DetectionService(sys, pino({ level: "silent" }), "/mnt", MAX_AGE);
    const d = await det.current();
    expect(d.datasets.every((x) => x.encryptionRoot === "nvmepool")).toBe(true);
    const zfs = sys.commandLines().filter((l) => l.startsWith("zfs "));
    expect(zfs).toEqual([
      "zfs list -H -p -t filesystem,volume -o name,mountpoint,canmount,encryption,keystatus,used",
      "zfs get -j -r -t filesystem,volume encryptionroot nvmepool",
    ]);
    expect(sys.commandLines().join("\n")).not.toMatch(/snapshot/);
  });
});

describe("lsblk and blkid run again only when something they read may have changed", () => {
  it("same devices, no udev event, same pools and mounts: the last listing; any of them moved, or no udev: both run", async () => {
    const m = await machine();
    await mkdir(`${m.dir}/proc/spl/kstat/zfs`, { recursive: true });
    await mkdir(`${m.dir}/sys/class/block/nvme0n1`, { recursive: true });
    const udev = `${m.dir}/run/udev/data`;
    await mkdir(udev, { recursive: true });
    const listings = () => m.commands().filter((l) => /^(lsblk|blkid) /.test(l)).length;
    const first = await m.det.current(true);
    expect(listings()).toBe(2);
    const again = await m.det.current(true);
    // ?refresh=1 still scans the devices for pools; the block listing is the last one
    expect(m.scans()).toBe(2);
    expect(listings()).toBe(2);
    expect(again.devices).toEqual(first.devices);
    expect(again.candidates).toEqual(first.candidates);
    // udev handled an event (mkfs, a new partition table, cryptsetup): both run
    const later = new Date(Date.now() + 5_000);
    await utimes(udev, later, later);
    await m.det.current(true);
    expect(listings()).toBe(4);
    await m.det.current(true);
    expect(listings()).toBe(4);
    // a pool imported or exported by hand (the kernel rewrites its labels without a udev event)
    await mkdir(`${m.dir}/proc/spl/kstat/zfs/nvmepool`);
    await m.det.current(true);
    expect(listings()).toBe(6);
    // a device came
    await mkdir(`${m.dir}/sys/class/block/sdb`);
    await m.det.current(true);
    expect(listings()).toBe(8);
    await m.det.current(true);
    expect(listings()).toBe(8);
    // no udev database (an initrd without udev): nothing says a device's content is unchanged
    await rm(udev, { recursive: true });
    await m.det.current(true);
    await m.det.current(true);
    expect(listings()).toBe(12);
  });
});

describe("no imported pool, by the kernel's kstats: no `zpool list`/`zpool status`", () => {
  // /proc/spl/kstat/zfs as OpenZFS 2.3.2 shows it in the lab guest: global kstats are files, each
  // imported pool a directory.
  const KSTAT = "proc/spl/kstat/zfs";
  const globals = ["abdstats", "arcstats", "dbgmsg", "import_progress", "zil"];
  async function withKstats(pools: string[]) {
    const m = await machine();
    const { writeFile } = await import("node:fs/promises");
    await mkdir(`${m.dir}/${KSTAT}`, { recursive: true });
    for (const g of globals) await writeFile(`${m.dir}/${KSTAT}/${g}`, "");
    for (const p of pools) await mkdir(`${m.dir}/${KSTAT}/${p}`);
    return m;
  }

  it("only files there: the device scan runs, the listings of imported pools do not", async () => {
    const m = await withKstats([]);
    const d = await m.det.refresh();
    expect(m.commands()).toContain("zpool import");
    expect(m.commands().filter((l) => /^zpool (list|status)/.test(l))).toEqual([]);
    expect(d.imported).toEqual([]);
    expect(d.candidates.map((c) => c.id)).toEqual(["zfs:nvmepool"]);
  });

  it("a pool's directory there (or no kstats to read): both listings run", async () => {
    const m = await withKstats(["nvmepool"]);
    await m.det.refresh();
    expect(m.commands()).toEqual(expect.arrayContaining(["zpool list -j", "zpool status -j"]));
    const bare = await machine();
    await bare.det.refresh();
    expect(bare.commands()).toEqual(expect.arrayContaining(["zpool list -j", "zpool status -j"]));
  });
});

describe("the live hostid: /etc/hostid read as gethostid() reads it, `hostid` only without the file", () => {
  it("with the file: no process, the same value `hostid` prints", async () => {
    const m = await machine();
    const d = await m.det.refresh();
    expect(m.commands()).not.toContain("hostid");
    const printed = (await m.sys.run("hostid", [])).stdout.trim();
    expect(d.hostid).toBe(printed);
  });

  it("without it: `hostid` runs", async () => {
    const m = await machine();
    const read = m.sys.readFile.bind(m.sys);
    m.sys.readFile = async (p: string) => (p === "/etc/hostid" ? null : read(p));
    const d = await m.det.refresh();
    expect(m.commands()).toContain("hostid");
    expect(d.hostid).toBe("00bab10c");
  });
});
