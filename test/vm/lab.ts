// Lifeboat VM lab: boots the cached rescue test guest (Debian bookworm + OpenZFS 2.3, TCG) under QEMU
// with a "broken NixOS server" disk set, runs the agent bundle in it the way the ISO's service would,
// and gives tests two ways in: the agent's HTTP API (hostfwd 127.0.0.1:<port> -> guest :8080, "the
// laptop on the LAN") and a control channel (hostfwd -> guest :8081, guest/ctl.mjs) to read and change
// the REAL guest state (zpool status, /proc/mounts, hostid, ...).
//
// Cache (outside the repo): ${LIFEBOAT_VM_CACHE:-/var/cache/lifeboat-vm}
//   rootfs-<hash>/, guest-<hash>/  built by guest/build.sh (needs root; installs qemu etc. when missing)
//   disksets/<case>-<hash>/       disk sets made by guest/mkserver.sh in a guest playing the server
// Per boot a work dir under ${LIFEBOAT_VM_WORK:-$TMPDIR/lifeboat-vm}/<name>-<stamp>/ holds the qcow2
// overlays (the cached disk set stays pristine), the 9p shares, console.log and the agent's log.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { LAYOUT_DISKS, LAYOUTS, type LayoutName } from "./layouts.js";

export { LAYOUT_DISKS, LAYOUTS, type LayoutName };

const pexecFile = promisify(execFile);

/** this directory (LIFEBOAT_VM_HERE when running from a bundle elsewhere, as ./demo does) */
export const HERE = process.env.LIFEBOAT_VM_HERE ?? path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");
export const GUEST_DIR = path.join(HERE, "guest");
export const CACHE = process.env.LIFEBOAT_VM_CACHE ?? "/var/cache/lifeboat-vm";
export const WORK = process.env.LIFEBOAT_VM_WORK ?? path.join(os.tmpdir(), "lifeboat-vm");

/** hostid of the rescue guest (baked into the image by build.sh) and of the "server" that made the disks */
export const RESCUE_HOSTID = "00bab10c";
export const SERVER_HOSTID = "8425e349";
export const SERVER_HOSTNAME = "atlas";
/** passphrases of the encrypted cases: distinctive, so a log grep for them means something */
export const ZFS_PASSPHRASE = "lifeboat-zfs-Kq7vW2pX";
export const LUKS_PASSPHRASE = "lifeboat-luks-Rb4mZ9tN";

export type CaseName =
  | "single"
  | "mirror"
  | "degraded"
  | "encrypted"
  | "two-pools"
  | "ext4"
  | "ext4-luks"
  | "exported"
  | "fault"
  | "blank"
  | "nodisks"
  | "diag-good"
  | "diag-failed";

export interface CaseInfo {
  case: CaseName;
  layout?: "zfs" | "ext4";
  vdev?: string;
  pools: string[];
  luks?: boolean;
  passphrase?: string;
  serverHostname?: string;
  serverHostid?: string;
  machineId?: string;
  espUuid?: string;
  rootUuid?: string;
  luksUuid?: string;
  toplevel?: string;
  exported?: boolean;
  fault?: string;
  journal?: string;
  /** disks made but not attached (degraded mirror) */
  detached?: string[];
}

export interface DiskSet {
  name: CaseName;
  dir: string;
  disks: string[];
  info: CaseInfo;
  /** NVMe serials the disks must keep (layouts: their /dev/disk/by-id names are in the fstab) */
  serials?: string[];
}

export interface GuestImage {
  dir: string;
  vmlinuz: string;
  initrd: string;
  rootfs: string;
  env: Record<string, string>;
}

// ---------------------------------------------------------------------------------------- timings
export interface Timing {
  what: string;
  ms: number;
}
export const timings: Timing[] = [];
export function recordTiming(what: string, ms: number): void {
  timings.push({ what, ms: Math.round(ms) });
  log(`timing: ${what} = ${(ms / 1000).toFixed(1)} s`);
  fs.mkdir(WORK, { recursive: true })
    .then(() =>
      fs.appendFile(
        path.join(WORK, "timings.jsonl"),
        `${JSON.stringify({ at: new Date().toISOString(), what, ms: Math.round(ms) })}\n`,
      ),
    )
    .catch(() => {});
}
export function timingReport(): string {
  return timings.map((t) => `  ${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.what}`).join("\n");
}

export function log(msg: string): void {
  process.stderr.write(`[vm ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------- helpers
const sha = (...parts: (string | Buffer)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex").slice(0, 12);
};

export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run a host command, streaming its stderr with a prefix; resolves with stdout. */
function runStreaming(cmd: string, args: string[], prefix: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
    });
    let buf = "";
    child.stderr.on("data", (b) => {
      buf += b;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) process.stderr.write(`${prefix}${l}\n`);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (buf) process.stderr.write(`${prefix}${buf}\n`);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}`));
    });
  });
}

// ---------------------------------------------------------------------------------------- guest image
let guestPromise: Promise<GuestImage> | undefined;

/** Build (or find in the cache) the rescue guest. Cold: 10-30 min; cached: about a second. */
export function ensureGuest(): Promise<GuestImage> {
  guestPromise ??= (async () => {
    const t0 = Date.now();
    const out = await runStreaming("bash", [path.join(GUEST_DIR, "build.sh")], "  ");
    const dir = out.trim().split("\n").pop() ?? "";
    if (!dir || !existsSync(path.join(dir, ".complete")))
      throw new Error(`build.sh gave no guest dir: ${out}`);
    const env: Record<string, string> = {};
    for (const line of (await fs.readFile(path.join(dir, "guest.env"), "utf8")).split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m?.[1]) env[m[1]] = m[2] ?? "";
    }
    const ms = Date.now() - t0;
    if (ms > 60_000) recordTiming("guest build (cold or partial)", ms);
    return {
      dir,
      vmlinuz: path.join(dir, "vmlinuz"),
      initrd: path.join(dir, "initrd.img"),
      rootfs: path.join(dir, "rootfs.ext4"),
      env,
    };
  })();
  return guestPromise;
}

// ---------------------------------------------------------------------------------------- disk sets
const DISK_SIZE = "4G";

function casePassphrase(name: CaseName): string {
  if (name === "encrypted") return ZFS_PASSPHRASE;
  if (name === "ext4-luks") return LUKS_PASSPHRASE;
  return "";
}

function caseDiskCount(name: CaseName): number {
  if (name === "nodisks") return 0;
  if (name === "mirror" || name === "degraded" || name === "two-pools") return 2;
  return 1;
}

/**
 * The disk set of a case, made once and cached (key: mkserver.sh + guest tree + case). Tests never write
 * to it: boot() puts qcow2 overlays on top.
 */
export async function ensureDiskSet(name: CaseName): Promise<DiskSet> {
  const guest = await ensureGuest();
  const script = await fs.readFile(path.join(GUEST_DIR, "mkserver.sh"));
  const tree = await fs.readFile(path.join(GUEST_DIR, "nixos-tree.sh"));
  const key = sha(script, tree, guest.env.BASE_KEY ?? guest.dir, name, casePassphrase(name), DISK_SIZE);
  const dir = path.join(CACHE, "disksets", `${name}-${key}`);
  if (existsSync(path.join(dir, "case.json"))) return loadDiskSet(name, dir);

  const t0 = Date.now();
  log(`making disk set ${name} -> ${dir}`);
  const staging = `${dir}.tmp-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const disks: string[] = [];
  for (let i = 0; i < caseDiskCount(name); i++) {
    const d = path.join(staging, `disk${i}.qcow2`);
    await pexecFile("qemu-img", ["create", "-q", "-f", "qcow2", d, DISK_SIZE]);
    disks.push(d);
  }
  let info: CaseInfo = { case: name, pools: [] };
  if (name !== "blank" && name !== "nodisks") {
    const vm = await boot({
      name: `mkserver-${name}`,
      rawDisks: disks,
      agent: false,
      hostid: SERVER_HOSTID,
      hostname: SERVER_HOSTNAME,
      extraShareFiles: {
        "mkserver.sh": path.join(GUEST_DIR, "mkserver.sh"),
        "nixos-tree.sh": path.join(GUEST_DIR, "nixos-tree.sh"),
      },
    });
    try {
      const r = await vm.run(`bash /host/mkserver.sh ${name} ${shQuote(casePassphrase(name))}`, {
        timeoutMs: 900_000,
      });
      await fs.writeFile(path.join(staging, "mkserver.log"), `${r.stdout}\n--- stderr\n${r.stderr}`);
      if (r.rc !== 0) throw new Error(`mkserver.sh ${name} failed rc=${r.rc}:\n${r.stdout}\n${r.stderr}`);
      info = JSON.parse(await fs.readFile(path.join(vm.shareDir, "out", "case.json"), "utf8"));
      await fs.cp(path.join(vm.shareDir, "out", "generated"), path.join(staging, "generated"), {
        recursive: true,
      });
    } finally {
      await vm.shutdown();
    }
  }
  if (name === "degraded") {
    // the mirror's second disk "died": keep it aside, attach only disk0
    await fs.mkdir(path.join(staging, "detached"));
    await fs.rename(path.join(staging, "disk1.qcow2"), path.join(staging, "detached", "disk1.qcow2"));
    info.detached = ["disk1.qcow2"];
  }
  await fs.writeFile(path.join(staging, "case.json"), `${JSON.stringify(info, null, 2)}\n`);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(staging, dir);
  recordTiming(`disk set ${name} made`, Date.now() - t0);
  // drop older versions of this case
  for (const e of await fs.readdir(path.dirname(dir))) {
    if (e.startsWith(`${name}-`) && !e.includes(".tmp-") && e !== path.basename(dir)) {
      const rest = e.slice(name.length + 1);
      if (/^[0-9a-f]{12}$/.test(rest))
        await fs.rm(path.join(path.dirname(dir), e), { recursive: true, force: true });
    }
  }
  return loadDiskSet(name, dir);
}

async function loadDiskSet(name: CaseName, dir: string): Promise<DiskSet> {
  const info = JSON.parse(await fs.readFile(path.join(dir, "case.json"), "utf8")) as CaseInfo;
  const disks = (await fs.readdir(dir))
    .filter((f) => /^disk\d+\.qcow2$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)?.[0]) - Number(b.match(/\d+/)?.[0]))
    .map((f) => path.join(dir, f));
  return { name, dir, disks, info };
}

// ---------------------------------------------------------------------------------------- layouts
// The layouts of issue 12 (guest/mklayouts.sh): every one on its own disks, all made in ONE server boot
// and cached together (key: mklayouts.sh + nixos-tree.sh + guest + disks). A scenario boots the disks
// of one layout or of several (layoutDiskSet), each disk keeping its NVMe serial (its by-id name).

/** /host/out/<layout>/case.json written by mklayouts.sh */
export interface LayoutInfo {
  layout: LayoutName;
  disks: string[];
  /** pools as the system names them (on-disk names) */
  pools: string[];
  serverHostname: string;
  serverHostid: string;
  machineId: string;
  toplevel: string;
  luks?: { partition: number; uuid: string; mapper: string }[];
  btrfs?: { uuid: string; homeSubvolid: number };
  inCoreName?: string;
  inCoreNames?: string[];
}

export interface LayoutSets {
  dir: string;
  /** serial -> cached qcow2 */
  diskOf: Record<string, string>;
  info: Record<LayoutName, LayoutInfo>;
}

let layoutsPromise: Promise<LayoutSets> | undefined;

/** All layout disks, made once (one server boot, ~3-5 min cold) and cached. */
export function ensureLayouts(): Promise<LayoutSets> {
  layoutsPromise ??= (async () => {
    const guest = await ensureGuest();
    const script = await fs.readFile(path.join(GUEST_DIR, "mklayouts.sh"));
    const tree = await fs.readFile(path.join(GUEST_DIR, "nixos-tree.sh"));
    const serials = LAYOUTS.flatMap((l) => LAYOUT_DISKS[l]);
    const key = sha(
      script,
      tree,
      guest.env.BASE_KEY ?? guest.dir,
      LUKS_PASSPHRASE,
      DISK_SIZE,
      serials.join(","),
    );
    const dir = path.join(CACHE, "disksets", `layouts-${key}`);
    if (!existsSync(path.join(dir, "layouts.json"))) await makeLayouts(dir, serials);
    const info = JSON.parse(await fs.readFile(path.join(dir, "layouts.json"), "utf8")) as Record<
      LayoutName,
      LayoutInfo
    >;
    const diskOf = Object.fromEntries(serials.map((s, i) => [s, path.join(dir, `disk${i}.qcow2`)]));
    return { dir, diskOf, info };
  })();
  return layoutsPromise;
}

async function makeLayouts(dir: string, serials: string[]): Promise<void> {
  const t0 = Date.now();
  log(`making the layout disks -> ${dir}`);
  const staging = `${dir}.tmp-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const disks: string[] = [];
  for (let i = 0; i < serials.length; i++) {
    const d = path.join(staging, `disk${i}.qcow2`);
    await pexecFile("qemu-img", ["create", "-q", "-f", "qcow2", d, DISK_SIZE]);
    disks.push(d);
  }
  const vm = await boot({
    name: "mklayouts",
    rawDisks: disks,
    serials,
    agent: false,
    hostid: SERVER_HOSTID,
    hostname: SERVER_HOSTNAME,
    extraShareFiles: {
      "mklayouts.sh": path.join(GUEST_DIR, "mklayouts.sh"),
      "nixos-tree.sh": path.join(GUEST_DIR, "nixos-tree.sh"),
    },
  });
  try {
    const r = await vm.run(`bash /host/mklayouts.sh ${shQuote(LUKS_PASSPHRASE)}`, { timeoutMs: 1_500_000 });
    await fs.writeFile(path.join(staging, "mklayouts.log"), `${r.stdout}\n--- stderr\n${r.stderr}`);
    if (r.rc !== 0) throw new Error(`mklayouts.sh failed rc=${r.rc}:\n${r.stdout}\n${r.stderr}`);
    const info: Record<string, LayoutInfo> = {};
    for (const l of LAYOUTS) {
      const out = path.join(vm.shareDir, "out", l);
      info[l] = JSON.parse(await fs.readFile(path.join(out, "case.json"), "utf8"));
      await fs.cp(path.join(out, "generated"), path.join(staging, l, "generated"), { recursive: true });
    }
    await fs.writeFile(path.join(staging, "layouts.json"), `${JSON.stringify(info, null, 2)}\n`);
  } finally {
    await vm.shutdown();
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(staging, dir);
  recordTiming("layout disks made (mklayouts.sh, one boot)", Date.now() - t0);
  for (const e of await fs.readdir(path.dirname(dir))) {
    const m = /^layouts-([0-9a-f]{12})$/.exec(e);
    if (m && e !== path.basename(dir))
      await fs.rm(path.join(path.dirname(dir), e), { recursive: true, force: true });
  }
}

/** The disks of one or more layouts as one disk set for boot() (overlays on top; serials kept). */
export async function layoutDiskSet(...names: LayoutName[]): Promise<{
  disks: string[];
  serials: string[];
  info: LayoutInfo[];
}> {
  const sets = await ensureLayouts();
  const serials = names.flatMap((n) => LAYOUT_DISKS[n]);
  return {
    disks: serials.map((s) => sets.diskOf[s] as string),
    serials,
    info: names.map((n) => sets.info[n]),
  };
}

// ---------------------------------------------------------------------------------------- diagnosis sets
export interface DiagnosisSets {
  /** single + generations 4-6; the journal has a good boot of 4 (clean stop), none of 5 or 6 */
  good: DiskSet;
  /** good + a boot of 5 that reached stage 2, vfio-bind.service failed, then the plug was pulled */
  failed: DiskSet;
  /** generation -> toplevel store path */
  toplevels: Record<number, string>;
}

async function toplevelOf(n: number): Promise<string> {
  const { stdout } = await pexecFile("bash", [path.join(GUEST_DIR, "mkjournal.sh"), "toplevel", String(n)]);
  return stdout.trim();
}

/**
 * The diagnosis disk sets (issue 14), made by guest/mkjournal.sh on a copy of `single` in guest boots
 * whose kernel command line names the generation they play (init=<toplevel>/init), so that the
 * guest's real journald records them. Cached under their own key (mkjournal.sh + single's dir).
 */
export async function ensureDiagnosisDiskSets(): Promise<DiagnosisSets> {
  const single = await ensureDiskSet("single");
  const script = await fs.readFile(path.join(GUEST_DIR, "mkjournal.sh"));
  const key = sha(script, path.basename(single.dir));
  const toplevels: Record<number, string> = {};
  for (const n of [4, 5, 6]) toplevels[n] = await toplevelOf(n);
  const make = async (name: "diag-good" | "diag-failed", from: DiskSet, step: string, gen: number) => {
    const dir = path.join(CACHE, "disksets", `${name}-${key}`);
    if (existsSync(path.join(dir, "case.json"))) return loadDiskSet(name, dir);
    const t0 = Date.now();
    log(`making disk set ${name} -> ${dir}`);
    const staging = `${dir}.tmp-${process.pid}`;
    await fs.rm(staging, { recursive: true, force: true });
    await fs.mkdir(staging, { recursive: true });
    const disk = path.join(staging, "disk0.qcow2");
    await pexecFile("qemu-img", ["convert", "-O", "qcow2", from.disks[0] as string, disk]);
    const vm = await boot({
      name: `mkjournal-${name}`,
      rawDisks: [disk],
      agent: false,
      hostid: SERVER_HOSTID,
      hostname: SERVER_HOSTNAME,
      append: [
        `init=${toplevels[gen]}/init`,
        ...(gen >= 5 ? ["intel_iommu=on", "iommu=pt"] : []),
        "nohibernate",
        "loglevel=4",
      ],
      extraShareFiles: { "mkjournal.sh": path.join(GUEST_DIR, "mkjournal.sh") },
    });
    try {
      const r = await vm.run(`bash /host/mkjournal.sh ${step}`, { timeoutMs: 600_000 });
      await fs.writeFile(path.join(staging, "mkjournal.log"), `${r.stdout}\n--- stderr\n${r.stderr}`);
      if (r.rc !== 0) throw new Error(`mkjournal.sh ${step} failed rc=${r.rc}:\n${r.stdout}\n${r.stderr}`);
    } finally {
      // "bad": the plug is pulled (the journal ends abruptly); "good": a clean power-off
      if (step === "bad") await vm.kill();
      else await vm.shutdown({ collectLogs: false });
    }
    const info: CaseInfo = { ...from.info, case: name };
    await fs.writeFile(path.join(staging, "case.json"), `${JSON.stringify(info, null, 2)}\n`);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
    recordTiming(`disk set ${name} made`, Date.now() - t0);
    for (const e of await fs.readdir(path.dirname(dir)))
      if (
        e.startsWith(`${name}-`) &&
        e !== path.basename(dir) &&
        /^[0-9a-f]{12}$/.test(e.slice(name.length + 1))
      )
        await fs.rm(path.join(path.dirname(dir), e), { recursive: true, force: true });
    return loadDiskSet(name, dir);
  };
  const good = await make("diag-good", single, "good", 4);
  const failed = await make("diag-failed", good, "bad", 5);
  return { good, failed, toplevels };
}

// ---------------------------------------------------------------------------------------- big pool
/** guest/mkbig.sh's case.json */
export interface BigPoolInfo {
  case: "big";
  pools: string[];
  serverHostid: string;
  toplevel: string;
  users: number;
  containers: number;
  snapshotsPerDataset: number;
  filesystems: number;
}
export const BIG_POOL = { users: 1600, containers: 400, snapshots: 10 } as const;
const BIG_DISK_SIZE = "8G";

/**
 * Issue 13's big pool (guest/mkbig.sh: the OpenZFS guide's rpool with ~2,000 datasets and ~20,000
 * snapshots), made once in one server boot and cached under its own key (mkbig.sh + nixos-tree.sh +
 * guest + sizes), so the other disk sets are not re-keyed.
 */
export async function ensureBigPool(): Promise<{ dir: string; disks: string[]; info: BigPoolInfo }> {
  const guest = await ensureGuest();
  const script = await fs.readFile(path.join(GUEST_DIR, "mkbig.sh"));
  const tree = await fs.readFile(path.join(GUEST_DIR, "nixos-tree.sh"));
  const { users, containers, snapshots } = BIG_POOL;
  const key = sha(
    script,
    tree,
    guest.env.BASE_KEY ?? guest.dir,
    `${users}/${containers}/${snapshots}`,
    BIG_DISK_SIZE,
  );
  const dir = path.join(CACHE, "disksets", `big-${key}`);
  if (!existsSync(path.join(dir, "case.json"))) {
    const t0 = Date.now();
    log(`making the big pool -> ${dir}`);
    const staging = `${dir}.tmp-${process.pid}`;
    await fs.rm(staging, { recursive: true, force: true });
    await fs.mkdir(staging, { recursive: true });
    const disk = path.join(staging, "disk0.qcow2");
    await pexecFile("qemu-img", ["create", "-q", "-f", "qcow2", disk, BIG_DISK_SIZE]);
    const vm = await boot({
      name: "mkbig",
      rawDisks: [disk],
      agent: false,
      hostid: SERVER_HOSTID,
      hostname: SERVER_HOSTNAME,
      extraShareFiles: {
        "mkbig.sh": path.join(GUEST_DIR, "mkbig.sh"),
        "nixos-tree.sh": path.join(GUEST_DIR, "nixos-tree.sh"),
      },
    });
    try {
      // In the background, polled: one control call may not last longer than fetch's 300 s.
      await vm.sh(
        `(bash /host/mkbig.sh ${users} ${containers} ${snapshots} >/host/mkbig.log 2>&1; echo $? >/host/mkbig.rc) </dev/null >/dev/null 2>&1 &`,
      );
      const rc = await vm.waitFor(
        "mkbig.sh",
        async () =>
          (await fs.readFile(path.join(vm.shareDir, "mkbig.rc"), "utf8").catch(() => "")).trim() || undefined,
        3_600_000,
        5_000,
      );
      const out = await fs.readFile(path.join(vm.shareDir, "mkbig.log"), "utf8");
      await fs.writeFile(path.join(staging, "mkbig.log"), out);
      if (rc !== "0") throw new Error(`mkbig.sh failed rc=${rc}:\n${out}`);
      await fs.copyFile(path.join(vm.shareDir, "out", "case.json"), path.join(staging, "case.json"));
      await fs.cp(path.join(vm.shareDir, "out", "generated"), path.join(staging, "generated"), {
        recursive: true,
      });
    } finally {
      await vm.shutdown();
    }
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
    recordTiming("big pool made (mkbig.sh, one boot)", Date.now() - t0);
    for (const e of await fs.readdir(path.dirname(dir)))
      if (/^big-[0-9a-f]{12}$/.test(e) && e !== path.basename(dir))
        await fs.rm(path.join(path.dirname(dir), e), { recursive: true, force: true });
  }
  const info = JSON.parse(await fs.readFile(path.join(dir, "case.json"), "utf8")) as BigPoolInfo;
  return { dir, disks: [path.join(dir, "disk0.qcow2")], info };
}

// ---------------------------------------------------------------------------------------- agent bundle
export const AGENT_ARGS = [
  "--listen",
  "0.0.0.0:8080",
  "--root",
  "/mnt",
  "--token-file",
  "/host/token",
  "--auto-mount",
  "readonly",
  "--log-level",
  "debug",
];

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!e.isFile()) continue;
    const st = await fs.stat(path.join(e.parentPath ?? e.path, e.name)).catch(() => null);
    if (st && st.mtimeMs > newest) newest = st.mtimeMs;
  }
  return newest;
}

let bundlePromise: Promise<string> | undefined;
/** The agent bundle to carry into the guest: $LIFEBOAT_VM_AGENT, else dist/lifeboat.mjs (built when missing or older than agent/). */
export function agentBundle(): Promise<string> {
  bundlePromise ??= (async () => {
    if (process.env.LIFEBOAT_VM_AGENT) return path.resolve(process.env.LIFEBOAT_VM_AGENT);
    const dist = path.join(REPO, "dist", "lifeboat.mjs");
    const stale =
      !existsSync(dist) || (await newestMtime(path.join(REPO, "agent"))) > (await fs.stat(dist)).mtimeMs;
    if (stale) {
      log(`dist/lifeboat.mjs ${existsSync(dist) ? "older than agent/" : "missing"}: npm run build`);
      await runStreaming("npm", ["run", "--silent", "build"], "  [build] ");
    }
    if (!existsSync(dist)) throw new Error("npm run build did not produce dist/lifeboat.mjs");
    return dist;
  })();
  return bundlePromise;
}

// ---------------------------------------------------------------------------------------- VM
export interface BootOptions {
  /** label for the work dir and the logs */
  name: string;
  /** a cached disk set: qcow2 overlays are put on top (writes go to the overlays) */
  diskSet?: Pick<DiskSet, "disks"> & { serials?: string[] };
  /** reuse the overlays of an earlier boot (a "reboot" that sees that boot's writes) */
  overlaysFrom?: Vm;
  /** attach these images directly, writes go into them (disk-set making) */
  rawDisks?: string[];
  /** additionally discard all disk writes at exit (QEMU snapshot=on) */
  snapshot?: boolean;
  /**
   * start the agent at boot like the ISO's service (default); false: no agent. `prelude`: shell lines
   * agent.sh runs before it (e.g. a canary tree on the rescue side that must exist before auto-mount)
   */
  agent?: boolean | { args?: string[]; bundle?: string; prelude?: string };
  /** NVMe serial of each drive, in order (default LBVM0000, LBVM0001, …): /dev/disk/by-id names */
  serials?: string[];
  /** hostid / hostname the guest takes (default: the rescue image's 00bab10c / rescue) */
  hostid?: string;
  hostname?: string;
  /** fixed host port for the API (default: a free one) */
  apiPort?: number;
  memMb?: number;
  /** extra files copied into the /host share: name -> host path */
  extraShareFiles?: Record<string, string>;
  /** extra kernel command-line words (the guest's initrd ignores them; the kernel logs them) */
  append?: string[];
}

export interface RunResult {
  rc: number;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  contentType: string;
  body: T;
  text: string;
}

const live = new Set<ChildProcess>();
function killAllSync() {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {}
  }
}
/** Set by an interactive caller (the demo) to handle Ctrl-C itself; by default QEMU is killed at once. */
export const signals: { onSignal?: (sig: NodeJS.Signals) => void } = {};
process.once("exit", killAllSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (signals.onSignal) return signals.onSignal(sig);
    killAllSync();
    process.exit(130);
  });
}

let bootCounter = 0;

export class Vm {
  readonly workDir: string;
  readonly shareDir: string;
  readonly labDir: string;
  readonly logsDir: string;
  readonly consoleLog: string;
  apiPort = 0;
  ctlPort = 0;
  token = "";
  overlays: string[] = [];
  qemu?: ChildProcess;
  exited: Promise<number | null> = Promise.resolve(null);
  exitCode: number | null | undefined = undefined;
  exitSignal: NodeJS.Signals | null = null;
  /** ms since epoch when QEMU was started / the API first answered */
  startedAt = 0;
  apiReadyAt = 0;

  constructor(
    readonly opts: BootOptions,
    workDir: string,
  ) {
    this.workDir = workDir;
    this.shareDir = path.join(workDir, "share");
    this.labDir = path.join(workDir, "lab");
    this.logsDir = path.join(this.shareDir, "logs");
    this.consoleLog = path.join(workDir, "console.log");
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Run a shell command in the guest (bash -c, as root) and return its result. */
  async run(cmd: string, opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    // node:http, not fetch: fetch (undici) gives up on a response's headers after 300 s, and the
    // control server answers only when the command ends (mklayouts.sh runs longer under load).
    const body = JSON.stringify({ cmd, timeoutMs, input: opts.input });
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: this.ctlPort,
          path: "/run",
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
          timeout: timeoutMs + 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`guest control: no answer in ${timeoutMs + 30_000} ms for ${cmd}`)),
      );
      req.on("error", reject);
      req.end(body);
    });
    if (status !== 200) throw new Error(`guest control: HTTP ${status} for ${cmd}: ${text}`);
    return JSON.parse(text) as RunResult;
  }

  /** Like run(), but throws unless the command exits 0; returns stdout. */
  async sh(cmd: string, opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    const r = await this.run(cmd, opts);
    if (r.rc !== 0) throw new Error(`guest command failed (rc=${r.rc}): ${cmd}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** Guest uptime in seconds (guest clock) */
  async uptime(): Promise<number> {
    return Number((await this.sh("cut -d' ' -f1 /proc/uptime")).trim());
  }

  private async ctlFetch(p: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.ctlPort}${p}`, {
      ...init,
      headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    });
  }

  /** Call the agent's HTTP API. Bearer token unless auth:false or auth:"<other token>". */
  async api<T = any>(
    method: string,
    p: string,
    body?: unknown,
    opts: { auth?: boolean | string; timeoutMs?: number } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    const auth = opts.auth ?? true;
    if (auth) headers.authorization = `Bearer ${typeof auth === "string" ? auth : this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.apiUrl}${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return {
      status: res.status,
      headers: res.headers,
      contentType: res.headers.get("content-type") ?? "",
      body: parsed,
      text,
    };
  }

  /**
   * Poll until `probe` yields a value (not undefined). Fails early if QEMU died. This is how every
   * wait in the lab works: on an observable condition, never a fixed sleep.
   */
  async waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 300_000,
    everyMs = 500,
  ): Promise<T> {
    const t0 = Date.now();
    let lastErr: unknown;
    while (Date.now() - t0 < timeoutMs) {
      if (!this.running)
        throw new Error(`${what}: QEMU exited (${this.exitCode})\n${await this.consoleTail()}`);
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (e) {
        lastErr = e;
      }
      await sleep(everyMs);
    }
    throw new Error(
      `${what}: timed out after ${timeoutMs} ms (${String(lastErr ?? "")})\n${await this.consoleTail()}`,
    );
  }

  /** Wait for a real HTTP answer from the control server (a TCP connect alone proves nothing under hostfwd). */
  async waitForControl(timeoutMs = 300_000): Promise<void> {
    await this.waitFor(
      "guest control channel",
      async () => {
        const r = await this.ctlFetch("/ping", { signal: AbortSignal.timeout(5000) });
        return r.ok ? true : undefined;
      },
      timeoutMs,
    );
  }

  /** Wait for GET /healthz to answer 200 with ok:true. */
  async waitForApi(timeoutMs = 300_000): Promise<any> {
    const body = await this.waitFor(
      "agent API",
      async () => {
        const r = await fetch(`${this.apiUrl}/healthz`, { signal: AbortSignal.timeout(5000) });
        if (r.status !== 200) return undefined;
        return (await r.json()) as any;
      },
      timeoutMs,
    );
    if (!this.apiReadyAt) {
      this.apiReadyAt = Date.now();
      recordTiming(`${this.opts.name}: boot -> API ready`, this.apiReadyAt - this.startedAt);
    }
    return body;
  }

  /** Guest uptime (s) when init started the agent, or undefined */
  async agentStartedUptime(): Promise<number | undefined> {
    try {
      return Number((await fs.readFile(path.join(this.labDir, "agent.started"), "utf8")).trim());
    } catch {
      return undefined;
    }
  }

  /** Seconds since init started the agent, by the guest's own clock */
  async secondsSinceAgentStart(): Promise<number | undefined> {
    const started = await this.agentStartedUptime();
    if (started === undefined) return undefined;
    return (await this.uptime()) - started;
  }

  async agentLog(): Promise<string> {
    return fs.readFile(path.join(this.logsDir, "agent.log"), "utf8").catch(() => "");
  }

  async consoleTail(lines = 40): Promise<string> {
    const text = await fs.readFile(this.consoleLog, "utf8").catch(() => "");
    return `--- console (${this.consoleLog}) ---\n${text.split("\n").slice(-lines).join("\n")}`;
  }

  /** All log text the run produced: agent log, console, guest journal + dmesg (collected at shutdown). */
  async allLogs(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const files = [this.consoleLog, path.join(this.labDir, "ctl.log")];
    for (const f of await fs.readdir(this.logsDir).catch(() => [] as string[]))
      files.push(path.join(this.logsDir, f));
    for (const f of files) out[path.relative(this.workDir, f)] = await fs.readFile(f, "utf8").catch(() => "");
    return out;
  }

  /** Save guest-side logs (journal, dmesg) into the share, so they survive the VM. */
  async collectGuestLogs(): Promise<void> {
    if (!this.running) return;
    await this.run(
      "journalctl --no-pager -o short-precise >/host/logs/guest-journal.log 2>&1; dmesg >/host/logs/dmesg.log 2>&1; true",
      { timeoutMs: 60_000 },
    ).catch(() => {});
  }

  /** Clean power-off via the control channel (pools are NOT exported), then wait for QEMU; kill if it hangs. */
  async shutdown(opts: { collectLogs?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (!this.qemu || !this.running) return;
    if (opts.collectLogs ?? true) await this.collectGuestLogs();
    try {
      await this.ctlFetch("/poweroff", { method: "POST", body: "{}", signal: AbortSignal.timeout(10_000) });
    } catch {}
    const done = await Promise.race([
      this.exited.then(() => true),
      sleep(opts.timeoutMs ?? 60_000).then(() => false),
    ]);
    if (!done) {
      log(`${this.opts.name}: QEMU did not power off, killing it`);
      await this.kill();
    }
  }

  /** Kill QEMU at once (like pulling the plug) and reap it. */
  async kill(): Promise<void> {
    if (this.qemu && this.running) {
      this.qemu.kill("SIGKILL");
      await this.exited;
    }
  }
}

/** Boot a guest. Resolves once the control channel answers (and, with an agent, once its API answers). */
export async function boot(opts: BootOptions): Promise<Vm> {
  const guest = await ensureGuest();
  const stamp = `${new Date().toISOString().replace(/[-:]/g, "").slice(0, 15)}-${process.pid}-${++bootCounter}`;
  const vm = new Vm(opts, path.join(WORK, `${opts.name}-${stamp}`));
  await fs.mkdir(vm.logsDir, { recursive: true });
  await fs.mkdir(vm.labDir, { recursive: true });
  await fs.copyFile(path.join(GUEST_DIR, "ctl.mjs"), path.join(vm.labDir, "ctl.mjs"));
  for (const [name, src] of Object.entries(opts.extraShareFiles ?? {}))
    await fs.copyFile(src, path.join(vm.shareDir, name));

  // agent: bundle + token in the /host share, the service command in /lab/agent.sh
  const agent = opts.agent ?? true;
  if (agent) {
    const a = typeof agent === "object" ? agent : {};
    const bundle = a.bundle ?? (await agentBundle());
    await fs.copyFile(bundle, path.join(vm.shareDir, "lifeboat.mjs"));
    vm.token = randomBytes(24).toString("hex");
    await fs.writeFile(path.join(vm.shareDir, "token"), `${vm.token}\n`, { mode: 0o600 });
    const args = (a.args ?? AGENT_ARGS).map(shQuote).join(" ");
    await fs.writeFile(
      path.join(vm.labDir, "agent.sh"),
      `#!/bin/bash\n# the rescue ISO's lifeboat.service, in shell\n${a.prelude ? `${a.prelude}\n` : ""}cd /\nexec node /host/lifeboat.mjs ${args}\n`,
    );
  }

  // disks
  const drives: { file: string; snapshot: boolean }[] = [];
  const serials = opts.serials ?? opts.diskSet?.serials;
  if (opts.rawDisks) for (const d of opts.rawDisks) drives.push({ file: d, snapshot: !!opts.snapshot });
  else if (opts.overlaysFrom) {
    vm.overlays = opts.overlaysFrom.overlays;
    for (const o of vm.overlays) drives.push({ file: o, snapshot: !!opts.snapshot });
  } else if (opts.diskSet) {
    for (const [i, base] of opts.diskSet.disks.entries()) {
      const o = path.join(vm.workDir, `overlay${i}.qcow2`);
      await pexecFile("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, o]);
      vm.overlays.push(o);
      drives.push({ file: o, snapshot: !!opts.snapshot });
    }
  }

  vm.apiPort = opts.apiPort ?? (await freePort());
  vm.ctlPort = await freePort();
  const append = [
    "console=ttyS0",
    "root=/dev/vda",
    "rw",
    "panic=-1",
    // TCG on a loaded host: the kernel's IO-APIC timer check can fail and panic ("IO-APIC + timer
    // doesn't work"); no_timer_check skips that check (seen here at load 8+).
    "no_timer_check",
    "quiet",
    "net.ifnames=0",
    "systemd.show_status=0",
    opts.hostid ? `lbvm.hostid=${opts.hostid}` : "",
    opts.hostname ? `lbvm.hostname=${opts.hostname}` : "",
    ...(opts.append ?? []),
  ]
    .filter(Boolean)
    .join(" ");
  const args = [
    "-name",
    `lifeboat-vm-${opts.name}`,
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-smp",
    "2",
    "-m",
    String(opts.memMb ?? 2048),
    "-no-reboot",
    "-nodefaults",
    "-display",
    "none",
    "-vga",
    "none",
    "-monitor",
    "none",
    "-serial",
    `file:${vm.consoleLog}`,
    "-kernel",
    guest.vmlinuz,
    "-initrd",
    guest.initrd,
    "-append",
    append,
    "-drive",
    `file=${guest.rootfs},format=raw,if=virtio,snapshot=on`,
    "-netdev",
    `user,id=net0,hostfwd=tcp:127.0.0.1:${vm.apiPort}-:8080,hostfwd=tcp:127.0.0.1:${vm.ctlPort}-:8081`,
    "-device",
    "virtio-net-pci,netdev=net0",
    "-virtfs",
    `local,path=${vm.shareDir},mount_tag=host,security_model=none,id=host`,
    "-virtfs",
    `local,path=${vm.labDir},mount_tag=lab,security_model=none,id=lab`,
    "-device",
    "virtio-rng-pci",
  ];
  for (const [i, d] of drives.entries()) {
    args.push(
      "-drive",
      `file=${d.file},format=qcow2,if=none,id=nvm${i},cache=unsafe${d.snapshot ? ",snapshot=on" : ""}`,
      "-device",
      `nvme,drive=nvm${i},serial=${serials?.[i] ?? `LBVM${String(i).padStart(4, "0")}`}`,
    );
  }
  await fs.writeFile(path.join(vm.workDir, "qemu.args"), `${args.map(shQuote).join(" ")}\n`);
  log(
    `boot ${opts.name}: ${drives.length} disk(s), api 127.0.0.1:${vm.apiPort}, ctl :${vm.ctlPort}, ${vm.workDir}`,
  );
  vm.startedAt = Date.now();
  // setpriv --pdeathsig: QEMU dies with the process that started it, even on a hard crash of the runner.
  // detached (own process group): a terminal's Ctrl-C reaches the runner, which powers the guest off.
  const qemu = spawn("setpriv", ["--pdeathsig", "KILL", "--", "qemu-system-x86_64", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  vm.qemu = qemu;
  live.add(qemu);
  let qemuErr = "";
  qemu.stderr?.on("data", (b) => {
    qemuErr += b;
  });
  vm.exited = new Promise((resolve) => {
    qemu.on("exit", (code, signal) => {
      live.delete(qemu);
      vm.exitCode = code ?? (signal ? 128 : null);
      vm.exitSignal = signal;
      if (signal || (code !== 0 && code !== null))
        log(`${opts.name}: QEMU ended with ${signal ? `signal ${signal}` : `exit code ${code}`}`);
      if (qemuErr.trim()) fs.writeFile(path.join(vm.workDir, "qemu.stderr"), qemuErr).catch(() => {});
      resolve(vm.exitCode);
    });
  });
  try {
    await vm.waitForControl();
    recordTiming(`${opts.name}: boot -> control channel`, Date.now() - vm.startedAt);
    if (agent) await vm.waitForApi();
  } catch (e) {
    const err = qemuErr.trim() ? `\nqemu: ${qemuErr.trim()}` : "";
    await vm.kill();
    throw new Error(
      `${String(e instanceof Error ? e.message : e)}${err}\nagent log:\n${await vm.agentLog()}`,
    );
  }
  return vm;
}

/** Case-insensitive search of every log of a run for a secret. Returns "file: line" hits. */
export async function grepLogs(vm: Vm, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const [file, text] of Object.entries(await vm.allLogs())) {
    for (const line of text.split("\n")) if (line.includes(needle)) hits.push(`${file}: ${line}`);
  }
  return hits;
}
