// Checks shared by the layout scenarios (20-24): the REAL mount table of the guest after a (auto-)mount
// compared with what test/vm/layouts.ts says the system is, nothing imported or mounted outside it,
// labels untouched by a read-only session, and a clean hand-back the server could import without -f.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pools } from "./guest-state.js";
import { boot, layoutDiskSet, SERVER_HOSTID, shQuote, type Vm } from "./lab.js";
import {
  expectedRows,
  LAYOUT_EXPECTATIONS,
  type LayoutExpectation,
  type LayoutName,
  type MountInfo,
  parseMountinfo,
  tableProblems,
} from "./layouts.js";
import { expectOk, expectProblem, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

export const ROOT = "/mnt";

export type { MountInfo };

export async function mountinfo(vm: Vm): Promise<MountInfo[]> {
  return parseMountinfo(await vm.sh("cat /proc/self/mountinfo"));
}

export const isUnder = (p: string, root = ROOT) => p === root || p.startsWith(`${root}/`);

/** What the rescue guest itself mounts (guest/init.sh): nothing else may appear outside the root */
export const RESCUE_MOUNTS = new Set([
  "/",
  "/proc",
  "/sys",
  "/dev",
  "/dev/pts",
  "/dev/shm",
  "/run",
  "/tmp",
  "/sys/fs/cgroup",
  "/host",
  "/lab",
]);

/** Mounts outside the rescue root that the rescue guest did not make itself */
export async function foreignOutside(vm: Vm): Promise<string[]> {
  return (await mountinfo(vm))
    .filter((m) => !isUnder(m.target) && !RESCUE_MOUNTS.has(m.target))
    .map((m) => `${m.target} ${m.fstype} ${m.source}`);
}

/** The kernel's name of a partition of a disk known by its NVMe serial */
export async function partPath(vm: Vm, serial: string, n: number): Promise<string> {
  return (await vm.sh(`readlink -f /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_${serial}-part${n}`)).trim();
}

/** The partitions a layout's table names, resolved to this boot's kernel names */
async function partsOf(vm: Vm, exp: LayoutExpectation): Promise<(serial: string, n: number) => string> {
  const map = new Map<string, string>();
  for (const m of exp.mounts)
    if ("part" in m.src) map.set(`${m.src.part}-${m.src.n}`, await partPath(vm, m.src.part, m.src.n));
  return (serial, n) => map.get(`${serial}-${n}`) ?? `?${serial}-part${n}`;
}

/**
 * The EXACT mount table under the root: the same mounts (target, fstype, source, btrfs subvolume),
 * nothing else, parents before children, every disk-backed mount read-only, every mount of the
 * installed system nodev + nosuid (issue 10). See tableProblems in layouts.ts.
 */
export async function expectMountTable(vm: Vm, exp: LayoutExpectation): Promise<void> {
  const want = expectedRows(exp, ROOT, await partsOf(vm, exp));
  const got = (await mountinfo(vm)).filter((m) => isUnder(m.target));
  const ctx = `${exp.name}: mount table\n${got.map((m) => `${m.target} ${m.fstype} ${m.source} root=${m.root} ${m.options.join(",")}`).join("\n")}\n${await guestSnapshot(vm)}`;
  expect(tableProblems(got, want, ROOT), ctx).toEqual([]);
}

/** Only the system's pools imported, nothing mounted outside the root, unmounted datasets stay so */
export async function expectOnlyTheSystem(vm: Vm, exp: LayoutExpectation): Promise<void> {
  const snap = await guestSnapshot(vm);
  expect(Object.keys(await pools(vm)).sort(), snap).toEqual([...exp.pools].sort());
  expect(await foreignOutside(vm), `mounts outside ${ROOT}\n${snap}`).toEqual([]);
  const mounted = new Set((await mountinfo(vm)).map((m) => m.source));
  for (const d of exp.unmounted ?? [])
    expect(mounted.has(d), `${d} must not be mounted\n${snap}`).toBe(false);
}

/**
 * POST /v1/unmount {export:true}: nothing left under the root, no pool imported, and each pool
 * imports again WITHOUT -f under the server's own hostid (the server would boot), then is exported.
 */
export async function expectCleanExport(vm: Vm, exp: LayoutExpectation): Promise<void> {
  const r = await vm.api("POST", "/v1/unmount", { export: true });
  expectOk(r);
  const snap = await guestSnapshot(vm);
  expect(
    (await mountinfo(vm)).filter((m) => isUnder(m.target)),
    snap,
  ).toEqual([]);
  expect(await pools(vm), snap).toEqual({});
  if (exp.pools.length === 0) return;
  const had = (await vm.sh("hostid")).trim();
  try {
    await vm.sh(
      `zgenhostid -f ${SERVER_HOSTID} && echo 0x${SERVER_HOSTID} >/sys/module/spl/parameters/spl_hostid`,
    );
    for (const p of exp.pools) {
      const imp = await vm.run(`zpool import -N -o readonly=on -R /tmp/server-check ${shQuote(p)}`);
      expect(imp.rc, `${p}: the server imports it without -f\n${imp.stderr}`).toBe(0);
      await vm.sh(`zpool export ${shQuote(p)}`);
    }
  } finally {
    await vm.run(`zgenhostid -f ${had} && echo 0x${had} >/sys/module/spl/parameters/spl_hostid`);
  }
}

/**
 * POST /v1/unmount while a process sits in the root itself: `umount --recursive` takes down every
 * mount under it, then stops at the busy root. 409 target-busy, rolled back: every mount is back as
 * the kernel showed it before (the same file system, the same directory of it, the same place, the
 * same access), datasets with their own mountpoint and binds included.
 */
export async function expectBusyUnmountPutsBack(vm: Vm): Promise<void> {
  const view = async () =>
    (await mountinfo(vm))
      .filter((m) => isUnder(m.target))
      .map((m) => `${m.target} ${m.fstype} ${m.source} ${m.root} ${m.options.includes("ro") ? "ro" : "rw"}`);
  const before = await view();
  await vm.sh("(cd /mnt && exec sleep 600) >/dev/null 2>&1 & echo $! > /tmp/holder.pid");
  const pid = Number((await vm.sh("cat /tmp/holder.pid")).trim());
  try {
    const r = await vm.api("POST", "/v1/unmount", { export: true });
    expectProblem(r, 409, "target-busy");
    expect(r.body.state, JSON.stringify(r.body)).toBe("rolled-back");
    expect((await view()).sort()).toEqual([...before].sort());
  } finally {
    await vm.sh(`kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`);
  }
}

/**
 * A layout whose point is the boot-time auto-mount (several pools, a tmpfs root): only its disks are
 * attached, the agent starts like the ISO's service (--auto-mount readonly) and must mount exactly the
 * system, import nothing else, and hand it back cleanly.
 */
export function autoMountScenario(label: string, name: Exclude<LayoutName, "hostile-zfs">): void {
  const exp = LAYOUT_EXPECTATIONS[name];
  describe(`${label}: ${name}, auto-mount (${exp.source})`, () => {
    let vm: Vm;
    beforeAll(async () => {
      vm = await boot({
        name: `${label.split(" ")[1] ?? label}-${name}`,
        diskSet: await layoutDiskSet(name),
      });
    });
    afterAll(() => finish(vm));

    it("auto-mount mounts exactly the system, read-only", async () => {
      const st = await waitForAutoMount(vm, `${label} ${name}`);
      expect(st.phase, JSON.stringify(st.autoMount)).toBe("mounted-ro");
      await expectMountTable(vm, exp);
    });

    it("imports and mounts nothing else", async () => {
      await expectOnlyTheSystem(vm, exp);
    });

    it("an unmount stopped by a busy root puts every mount back as it was", async () => {
      await expectBusyUnmountPutsBack(vm);
    });

    it("hands the system back: unmounted, exported, importable by the server without -f", async () => {
      await expectCleanExport(vm, exp);
    });
  });
}
