// Scenario 25: systems on md RAID and LVM (disko's luks-lvm and mdadm examples, guest/mkstacks.sh).
// The rescue side assembles and activates nothing by itself; the AGENT brings the arrays and VGs up
// read-only, auto-mounts the system read-only, and not one byte of a member disk changes through
// detection + read-only mount + unmount (sha256 of every member, in the guest, before the agent
// starts and after the unmount). Then a read-write request switches exactly what it needs (and a
// failure switches it back), and the hand-back deactivates the VG / stops the arrays.
//
// Debian's udev rules are the same as NixOS's: mdadm's 64-md-raid-assembly.rules run `mdadm
// --incremental` on every member at coldplug, lvm2's 69-dm-lvm.rules run `pvscan --cache` and hand
// `vgchange -aay` (seen here: without the ISO's lvm.conf line, the VG inside the LUKS container was
// active read-write right after the open, before the agent looked). The guest boots with the ISO's
// kernel command line (md_mod.start_ro=1); its root image is shared, so the ISO's mdadm.conf and
// lvm.conf lines are added by agent.sh's prelude, after coldplug: at coldplug mdadm --incremental
// had put each member into an INACTIVE array (md126/md127, waiting for the missing disk: nothing
// started, nothing written); the prelude records that (stacks-at-boot.txt) and stops them, so the
// agent starts from idle members; the hashes are taken after that, before the agent runs.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  boot,
  CACHE,
  ensureGuest,
  GUEST_DIR,
  grepLogs,
  LUKS_PASSPHRASE,
  log,
  recordTiming,
  SERVER_HOSTID,
  SERVER_HOSTNAME,
  shQuote,
  type Vm,
} from "./lab.js";
import { isUnder, mountinfo } from "./layout-checks.js";
import { apiWhenIdle, expectOk, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

const pexecFile = promisify(execFile);
const SERIALS = ["LVM0", "MDADM0", "MDADM1"] as const;
const DISK_SIZE = "1G";
/** As the ISO boots (iso/storage-stacks.nix). */
const ISO_CMDLINE = ["md_mod.start_ro=1", "raid=noautodetect"];

interface StackSets {
  dir: string;
  diskOf: Record<(typeof SERIALS)[number], string>;
  info: Record<string, unknown>;
}

let stacksPromise: Promise<StackSets> | undefined;
/** The disks of both layouts, made in one server boot (mkstacks.sh) and cached like the layouts. */
function ensureStacks(): Promise<StackSets> {
  stacksPromise ??= (async () => {
    const guest = await ensureGuest();
    const h = createHash("sha256");
    for (const f of ["mkstacks.sh", "nixos-tree.sh"]) h.update(await fs.readFile(path.join(GUEST_DIR, f)));
    h.update(guest.env.BASE_KEY ?? guest.dir)
      .update(LUKS_PASSPHRASE)
      .update(DISK_SIZE)
      .update(SERIALS.join(","));
    const dir = path.join(CACHE, "disksets", `stacks-${h.digest("hex").slice(0, 12)}`);
    const diskOf = Object.fromEntries(
      SERIALS.map((s, i) => [s, path.join(dir, `disk${i}.qcow2`)]),
    ) as StackSets["diskOf"];
    if (!existsSync(path.join(dir, "stacks.json"))) await makeStacks(dir);
    const info = JSON.parse(await fs.readFile(path.join(dir, "stacks.json"), "utf8"));
    return { dir, diskOf, info };
  })();
  return stacksPromise;
}

async function makeStacks(dir: string): Promise<void> {
  const t0 = Date.now();
  log(`making the md/LVM disks -> ${dir}`);
  const staging = `${dir}.tmp-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const disks = SERIALS.map((_, i) => path.join(staging, `disk${i}.qcow2`));
  for (const d of disks) await pexecFile("qemu-img", ["create", "-q", "-f", "qcow2", d, DISK_SIZE]);
  const vm = await boot({
    name: "mkstacks",
    rawDisks: disks,
    serials: [...SERIALS],
    agent: false,
    hostid: SERVER_HOSTID,
    hostname: SERVER_HOSTNAME,
    extraShareFiles: {
      "mkstacks.sh": path.join(GUEST_DIR, "mkstacks.sh"),
      "nixos-tree.sh": path.join(GUEST_DIR, "nixos-tree.sh"),
    },
  });
  try {
    const r = await vm.run(`bash /host/mkstacks.sh ${shQuote(LUKS_PASSPHRASE)}`, { timeoutMs: 900_000 });
    await fs.writeFile(path.join(staging, "mkstacks.log"), `${r.stdout}\n--- stderr\n${r.stderr}`);
    if (r.rc !== 0) throw new Error(`mkstacks.sh failed rc=${r.rc}:\n${r.stdout}\n${r.stderr}`);
    const info: Record<string, unknown> = {};
    for (const l of ["luks-lvm", "mdadm"]) {
      const out = path.join(vm.shareDir, "out", l);
      info[l] = JSON.parse(await fs.readFile(path.join(out, "case.json"), "utf8"));
      await fs.cp(path.join(out, "generated"), path.join(staging, l, "generated"), { recursive: true });
    }
    await fs.writeFile(path.join(staging, "stacks.json"), `${JSON.stringify(info, null, 2)}\n`);
  } finally {
    await vm.shutdown();
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(staging, dir);
  recordTiming("md/LVM disks made (mkstacks.sh, one boot)", Date.now() - t0);
}

const LSBLK = "lsblk --json -o NAME,PATH,TYPE,FSTYPE,LABEL,UUID,PARTTYPE,PARTLABEL,SIZE,MOUNTPOINTS";
/**
 * agent.sh's prelude: what udev assembled at coldplug (kept for the log), then stopped, so the agent
 * starts from idle members; then the sha256 of every NVMe disk, before the agent runs.
 */
const PRELUDE = [
  "mkdir -p /host/logs",
  // the rescue side configured as the ISO configures it (iso/storage-stacks.nix), for what udev sees
  // from now on (a LUKS container opened later: its PV)
  "echo 'activation/auto_activation_volume_list = [ ]' >>/etc/lvm/lvm.conf",
  "echo 'AUTO -all' >>/etc/mdadm/mdadm.conf",
  "{ cat /proc/mdstat; dmsetup ls; } >/host/logs/stacks-at-boot.txt 2>&1",
  'for md in /dev/md[0-9]*; do [ -b "$md" ] && mdadm --stop "$md" >>/host/logs/stacks-at-boot.txt 2>&1; done',
  // what the agent will see (fixtures for the unit tests: idle members, their superblocks, a bare disk)
  `${LSBLK} >/host/logs/idle.lsblk.json`,
  'for p in nvme0n1p1 nvme0n1p2 nvme0n1; do mdadm --examine --export /dev/$p >/host/logs/examine-$p.txt 2>&1; echo "rc=$?" >>/host/logs/examine-$p.txt; done',
  "sha256sum /dev/nvme[0-9]n1 >/host/logs/sha-before.txt",
].join("\n");

/**
 * `LIFEBOAT_VM_CAPTURE=1`: keep the real outputs the unit tests parse (test/fixtures/vm-captured/stacks, see its
 * README): `cmd` runs in the guest, its stdout lands in the fixture `name`.
 */
const FIXTURES = path.resolve(GUEST_DIR, "../../fixtures/vm-captured/stacks");
async function capture(vm: Vm, name: string, cmd: string): Promise<void> {
  if (process.env.LIFEBOAT_VM_CAPTURE !== "1") return;
  const r = await vm.run(cmd);
  await fs.mkdir(FIXTURES, { recursive: true });
  await fs.writeFile(path.join(FIXTURES, name), r.stdout);
  if (r.rc !== 0) await fs.writeFile(path.join(FIXTURES, `${name}.rc`), `${r.rc}\n${r.stderr}`);
}
async function captureFile(vm: Vm, name: string, from: string): Promise<void> {
  if (process.env.LIFEBOAT_VM_CAPTURE !== "1") return;
  await fs.mkdir(FIXTURES, { recursive: true });
  await fs.copyFile(path.join(vm.logsDir, from), path.join(FIXTURES, name));
}

async function hashesNow(vm: Vm): Promise<string> {
  return vm.sh("sha256sum /dev/nvme[0-9]n1", { timeoutMs: 300_000 });
}
async function hashesBefore(vm: Vm): Promise<string> {
  return fs.readFile(path.join(vm.logsDir, "sha-before.txt"), "utf8");
}

/**
 * The mounts under /mnt as [target, source resolved to its kernel device, fstype, ro], by target:
 * siblings are mounted side by side (one `mount --all --fork`), so their order in the kernel's
 * table is not fixed; parents first is, and is checked here.
 */
async function table(vm: Vm): Promise<[string, string, string, boolean][]> {
  const rows = (await mountinfo(vm)).filter((m) => isUnder(m.target));
  rows.forEach((m, i) => {
    const later = rows.slice(i + 1).find((c) => m.target.startsWith(`${c.target.replace(/\/$/, "")}/`));
    if (later) throw new Error(`${m.target} is mounted before its parent ${later.target}`);
  });
  const out: [string, string, string, boolean][] = [];
  for (const m of rows) {
    const real = (await vm.sh(`readlink -f ${shQuote(m.source)}`)).trim();
    out.push([m.target, real, m.fstype, m.options.includes("ro")]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
async function kernelDev(vm: Vm, p: string): Promise<string> {
  return (await vm.sh(`readlink -f ${shQuote(p)}`)).trim();
}

describe("scenario 25a: LUKS2 → LVM (disko luks-lvm): found after the LUKS open, LVs read-only", () => {
  let vm: Vm;
  let stacks: StackSets;
  beforeAll(async () => {
    stacks = await ensureStacks();
    vm = await boot({
      name: "s25-luks-lvm",
      diskSet: { disks: [stacks.diskOf.LVM0], serials: ["LVM0"] },
      agent: { prelude: PRELUDE },
      append: ISO_CMDLINE,
    });
  });
  afterAll(() => finish(vm));

  it("at boot nothing activated the VG: auto-mount waits for the LUKS container", async () => {
    const s = await waitForAutoMount(vm, "25a luks-lvm");
    expect(s.autoMount.state).toBe("waiting");
    expect(s.autoMount.detail).toMatch(/locked/);
    expect(await vm.sh("dmsetup ls")).not.toMatch(/pool-/);
  });

  it("POST /v1/luks/{device}/open: the agent activates VG pool read-only and auto-mount resumes", async () => {
    const open = await apiWhenIdle(vm, "POST", "/v1/luks/nvme0n1p2/open", { passphrase: LUKS_PASSPHRASE });
    expectOk(open);
    const s = await waitForAutoMount(vm, "25a luks-lvm after open");
    expect(s.autoMount.state, `${JSON.stringify(s.autoMount)}\n${await guestSnapshot(vm)}`).toBe("mounted");
    const root = await kernelDev(vm, "/dev/pool/root");
    const home = await kernelDev(vm, "/dev/pool/home");
    const esp = await kernelDev(vm, "/dev/disk/by-partlabel/disk-main-ESP");
    expect(await table(vm)).toEqual([
      ["/mnt", root, "ext4", true],
      ["/mnt/boot", esp, "vfat", true],
      ["/mnt/home", home, "ext4", true],
    ]);
  });

  it("the LVs are active read-only (lv_attr 'R', device-mapper table read-only), swap untouched", async () => {
    const lvs = await vm.sh("lvs --noheadings -o lv_name,lv_attr pool");
    for (const lv of ["root", "home", "swap"]) expect(lvs).toMatch(new RegExp(`\\b${lv}\\s+-R`));
    expect(await vm.sh("dmsetup info pool-root")).toMatch(/State:\s+ACTIVE \(READ-ONLY\)/);
    expect(await vm.sh("swapon --show --noheadings")).toBe("");
    await capture(vm, "luks-lvm-active.lsblk.json", LSBLK);
    await capture(
      vm,
      "luks-lvm-readonly.lvs.json",
      "lvm lvs --reportformat json -o vg_name,lv_name,lv_attr,lv_dm_path pool",
    );
    await capture(vm, "luks-lvm.pvs.json", "lvm pvs --reportformat json -o pv_name,vg_name");
    await capture(
      vm,
      "luks-lvm-root.inverse.json",
      "lsblk --json -s -o NAME,PATH,TYPE /dev/mapper/pool-root",
    );
  });

  it("not one byte of the disk changed through detection, LUKS open, read-only mount and unmount", async () => {
    expectOk(await apiWhenIdle(vm, "POST", "/v1/unmount", {}));
    expect(await hashesNow(vm)).toBe(await hashesBefore(vm));
  });

  it("a read-write mount whose second LV cannot switch rolls back: root LV read-only again, nothing mounted", async () => {
    // something holds pool-home open: its re-activation (lvchange -an) fails mid-way
    await vm.sh("setsid sleep 600 </dev/mapper/pool-home >/dev/null 2>&1 & echo $! >/tmp/holder");
    const r = await apiWhenIdle(vm, "POST", "/v1/mount", { readonly: false });
    expect(r.status, r.text).toBeGreaterThanOrEqual(400);
    expect(r.body.state).toBe("rolled-back");
    expect(r.body.rolledBack.join("\n")).toMatch(/LV pool\/root read-only again/);
    expect((await mountinfo(vm)).filter((m) => isUnder(m.target))).toEqual([]);
    expect(await vm.sh("lvs --noheadings -o lv_attr pool/root")).toMatch(/-R/);
    await vm.sh("kill $(cat /tmp/holder)");
  });

  it("a read-write mount switches exactly the LVs it mounts to read-write", async () => {
    const r = await apiWhenIdle(vm, "POST", "/v1/mount", { readonly: false });
    expect(r.status, `${r.text}\n${await guestSnapshot(vm)}`).toBe(200);
    expect((await table(vm)).map(([t, , , ro]) => [t, ro])).toEqual([
      ["/mnt", false],
      ["/mnt/boot", false],
      ["/mnt/home", false],
    ]);
    const lvs = await vm.sh("lvs --noheadings -o lv_name,lv_attr pool");
    expect(lvs).toMatch(/\broot\s+-w/);
    expect(lvs).toMatch(/\bhome\s+-w/);
    expect(lvs).toMatch(/\bswap\s+-R/);
  });

  it("the hand-back unmounts and deactivates VG pool", async () => {
    const r = await apiWhenIdle(vm, "POST", "/v1/unmount", { export: true });
    expectOk(r);
    expect(r.body.deactivated).toEqual(["pool"]);
    expect(await vm.sh("dmsetup ls")).not.toMatch(/pool-/);
    await capture(vm, "luks-lvm-idle.lsblk.json", LSBLK);
    await capture(
      vm,
      "luks-lvm-inactive.lvs.json",
      "lvm lvs --reportformat json -o vg_name,lv_name,lv_attr,lv_dm_path pool",
    );
  });

  it("never logs the LUKS passphrase", async () => {
    await vm.collectGuestLogs();
    expect(await grepLogs(vm, LUKS_PASSPHRASE)).toEqual([]);
  });
});

describe("scenario 25b: md RAID1 ESP (metadata 1.0) + md RAID1 root (disko mdadm), one disk missing", () => {
  let vm: Vm;
  let stacks: StackSets;
  const state = async (name: string) => {
    const md = (await kernelDev(vm, `/dev/md/${name}`)).split("/").pop();
    return (await vm.sh(`cat /sys/block/${md}/md/array_state`)).trim();
  };
  beforeAll(async () => {
    stacks = await ensureStacks();
    vm = await boot({
      name: "s25-mdadm",
      diskSet: { disks: [stacks.diskOf.MDADM0], serials: ["MDADM0"] },
      agent: { prelude: PRELUDE },
      append: ISO_CMDLINE,
    });
  });
  afterAll(() => finish(vm));

  it("the agent assembles both degraded arrays read-only and auto-mounts the system read-only", async () => {
    const s = await waitForAutoMount(vm, "25b mdadm");
    expect(s.autoMount.state, `${JSON.stringify(s.autoMount)}\n${await guestSnapshot(vm)}`).toBe("mounted");
    const root = await kernelDev(vm, "/dev/md/raid1");
    const boot_ = await kernelDev(vm, "/dev/md/boot");
    expect(await table(vm)).toEqual([
      ["/mnt", root, "ext4", true],
      ["/mnt/boot", boot_, "vfat", true],
    ]);
    expect(await state("raid1")).toBe("readonly");
    expect(await state("boot")).toBe("readonly");
    const mdstat = await vm.sh("cat /proc/mdstat");
    expect(mdstat).toMatch(/active \(read-only\) raid1 nvme0n1p2\[0\]/);
    expect(mdstat).toMatch(/\[2\/1\] \[U_\]/);
    await captureFile(vm, "mdadm-degraded-idle.lsblk.json", "idle.lsblk.json");
    await captureFile(vm, "mdadm-esp-member.examine.txt", "examine-nvme0n1p1.txt");
    await captureFile(vm, "mdadm-root-member.examine.txt", "examine-nvme0n1p2.txt");
    await captureFile(vm, "mdadm-bare-disk.examine.txt", "examine-nvme0n1.txt");
    await captureFile(vm, "mdadm-at-boot.txt", "stacks-at-boot.txt");
    await capture(vm, "mdadm-degraded-assembled.lsblk.json", LSBLK);
    await capture(vm, "mdadm-degraded-readonly.mdstat.txt", "cat /proc/mdstat");
    await capture(vm, "mdadm-root.inverse.json", "lsblk --json -s -o NAME,PATH,TYPE /dev/md/raid1");
  });

  it("not one byte of the disk changed through detection, assembly, read-only mount and unmount", async () => {
    expectOk(await apiWhenIdle(vm, "POST", "/v1/unmount", {}));
    expect(await hashesNow(vm)).toBe(await hashesBefore(vm));
  });

  it("a read-write mount switches both arrays to read-write, and only then", async () => {
    const r = await apiWhenIdle(vm, "POST", "/v1/mount", { readonly: false });
    expect(r.status, `${r.text}\n${await guestSnapshot(vm)}`).toBe(200);
    expect(r.body.steps.join("\n")).toMatch(/switched \/dev\/md\/raid1 to read-write/);
    expect(await state("raid1")).toMatch(/^(clean|active|write-pending|active-idle)$/);
    expect((await table(vm)).every(([, , , ro]) => !ro)).toBe(true);
  });

  it("the hand-back unmounts and stops the arrays", async () => {
    const r = await apiWhenIdle(vm, "POST", "/v1/unmount", { export: true });
    expectOk(r);
    expect([...r.body.deactivated].sort()).toEqual(["/dev/md/boot", "/dev/md/raid1"]);
    expect(await vm.sh("cat /proc/mdstat")).not.toMatch(/^md/m);
  });
});
