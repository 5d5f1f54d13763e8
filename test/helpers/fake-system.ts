import { cpSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { mappedPaths } from "../../agent/src/core/holders.js";
import { encodeHostIdFile } from "../../agent/src/core/hostid.js";
import type { InitrdInfo } from "../../agent/src/core/initrd.js";
import { type BlockDevice, flattenDevices, parseLsblk } from "../../agent/src/core/lsblk.js";
import type { MountEntry } from "../../agent/src/core/mounts.js";
import { Decoders } from "../../agent/src/system/decoders.js";
import type { JailOptions, JailProfileName } from "../../agent/src/system/jail.js";
import { type OpenedDir, openDirInRoot } from "../../agent/src/system/mounttarget.js";
import { NodeDirFs } from "../../agent/src/system/rootfs-node.js";
import type {
  CommandResult,
  DirFs,
  FileInfo,
  JailedResult,
  NodeStat,
  OpenHow,
  OutputLine,
  RunOptions,
  Spawned,
  SpawnOptions,
  System,
} from "../../agent/src/system/system.js";
import { isReadOnlyCommand } from "../../agent/src/system/system.js";
import { decoderEntry } from "./decoder-entry.js";

/** Real captured outputs a fake machine replays (see test/fixtures/captured). */
export interface FakeOutputs {
  lsblk: string;
  blkid?: string;
  /** `zpool import` listing while the pool is not imported. */
  zpoolImportList?: string;
  /** stderr of an import without -f refused for another hostid. */
  importRefused?: string;
  zpoolListJ?: string;
  zpoolStatusJ?: string;
  zfsListHp?: string;
  /**
   * The split listing's space columns (usedbydataset, usedbysnapshots, usedbyrefreservation,
   * usedbychildren, tab-separated) of some datasets; the others' add up by their children.
   */
  zfsSpaceBreakdown?: Record<string, string>;
  zfsListHpUnlocked?: string;
  zfsGetCrypto?: string;
  mountLockedStderr?: string;
  loadKeyWrongStderr?: string;
  loadKeyAgainStderr?: string;
  loadKeyChildStderr?: string;
  importUnavailableStderr?: string;
  luksWrongStderr?: string;
  /** When set, a real `cryptsetup open` fails with it (like a host without device-mapper). */
  luksOpenStderr?: string;
  /** mount.zfs refusing a plain mount of tank/backups (own mountpoint) / zfsutil on legacy tank/data (vm-captured/fd-targets). */
  zfsutilMissingStderr?: string;
  zfsutilLegacyStderr?: string;
}

export interface FakePool {
  name: string;
  guid: string;
  /** hostid that last had the pool imported (null once exported cleanly). */
  lastHostId: string | null;
  encryptionRoot?: string;
  passphrase?: string;
  /**
   * The encryption root's keylocation as the disk sets it (default `prompt`). As zfs-load-key(8)
   * does: without `-L`, a `file://` location is read (on the rescue side) and stdin is ignored.
   */
  keylocation?: string;
  /** The import fails: devices missing. */
  unavailable?: boolean;
}

export interface FakeConfig {
  outputs: FakeOutputs;
  pools: FakePool[];
  hostid: string;
  /** Host directory that plays "/" for file operations. */
  sandbox: string;
  /** Mounts present before the agent starts (beyond the live system's own). */
  mounts?: MountEntry[];
  /** Return a failure for a matching command (fault injection). */
  fail?: (file: string, args: readonly string[]) => Partial<CommandResult> | undefined;
  /**
   * A matching command that succeeds answers as one ended by its deadline (exit 124, timed out):
   * what a `zpool import` killed after the kernel finished the import looks like.
   */
  timesOut?: (file: string, args: readonly string[]) => boolean;
  /**
   * Sources whose mount lands read-write whatever the options said (fault injection: a driver or a
   * bind that ignores `ro`; the kernel's table is what the agent must believe).
   */
  landsReadWrite?: (source: string) => boolean;
  /** Fixed: the SPL module hostid parameter cannot be changed (like a hostid pinned by the ISO). */
  splHostIdFixed?: boolean;
  /** /etc/hostid is a symlink into the read-only store (NixOS): writing through it fails. */
  hostidLink?: string;
  /** LUKS containers: device path → passphrase. */
  luks?: Record<string, string>;
  /** Scripted long-running processes (rebuilds): lines to print, exit code, or hang until killed. */
  spawnScript?: (
    file: string,
    args: readonly string[],
  ) => { lines: OutputLine[]; exitCode: number; hang?: boolean } | undefined;
  /**
   * A `run` that takes time: it returns after the promise settles (or at once when its signal
   * aborts, like a killed process). While it runs, the paths in its arguments are in use (umount
   * of a mount above them is "target is busy", as the kernel says for an open directory).
   */
  hold?: (file: string, args: readonly string[]) => Promise<void> | undefined;
  /** Replies to `run` calls the model does not know (e.g. journalctl, zfs snapshot). */
  extra?: (file: string, args: readonly string[], input: string) => CommandResult | undefined;
  /**
   * Fault injection for the confined file primitives (DirFs): an errno to fail with ("EIO",
   * "ENOSPC", "EROFS"…), or "hang" for a call that never returns (a dead disk). `path` is the
   * sandbox-relative path of the entry (e.g. /mnt/etc/nixos/configuration.nix).
   */
  fileFault?: (op: FileOp, path: string) => string | "hang" | undefined;
}

export type FileOp =
  | "open"
  | "read"
  | "write"
  | "fsync"
  | "mkdir"
  | "rename"
  | "unlink"
  | "readdir"
  | "lstat";

export interface RecordedCall {
  op: "run" | "writeFile" | "removeFile" | "mkdir" | "symlink" | "rename" | "create" | "append";
  file: string;
  /** Arguments, with a /proc/<pid>/fd/<n> mount target shown as the path the kernel resolved it to. */
  args: string[];
  /** Arguments exactly as given (fd paths included). */
  raw?: string[];
  /** Stdin is recorded only as a marker; secrets are never kept. */
  input?: "<secret>" | "<none>" | string;
  mutating: boolean;
  /** Run through the jail (system/jail.ts): its profile and the one directory it was given. */
  jail?: { profile: JailProfileName; data: string; group?: number };
}

const LIVE_MOUNTS: MountEntry[] = [
  { source: "/dev/vda", target: "/", fstype: "ext4", options: ["rw", "relatime"] },
  { source: "proc", target: "/proc", fstype: "proc", options: ["rw"] },
];

function ok(stdout = "", stderr = ""): CommandResult {
  return { exitCode: 0, stdout, stderr, timedOut: false, notFound: false, durationMs: 1 };
}
function fail(exitCode: number, stderr: string): CommandResult {
  return { exitCode, stdout: "", stderr, timedOut: false, notFound: false, durationMs: 1 };
}

/**
 * A recording, state-keeping stand-in for a rescue machine, replaying real captured outputs.
 * It models just enough of ZFS and mount(8) to test orchestration: imports (with the hostid check),
 * exports, legacy mounts, keys and /proc/mounts.
 */
export class FakeSystem implements System {
  readonly calls: RecordedCall[] = [];
  /** The tables `mount --all --fstab` read, in order (targets as the kernel resolved them). */
  readonly waveTables: string[][] = [];
  readonly imported = new Map<string, { readonly: boolean; altroot: string | null; forced: boolean }>();
  readonly keysLoaded = new Set<string>();
  readonly snapshots: string[] = [];
  /**
   * Space of the snapshots (createtxg order, `used`, holds, clones) and the pools' avail, as
   * `zfs list -o space` and `zfs destroy` (one lzc_destroy_snaps: all or none) report them.
   */
  readonly snapMeta = new Map<
    string,
    { createtxg: number; creation: number; used: number; written: number; holds: number; clones: string[] }
  >();
  readonly poolAvail = new Map<string, number>();
  private txg = 100;
  mounts: MountEntry[];
  hostid: string;
  hostidLink: string | null;
  readonly dirfs: DirFs;
  /** Targets of non-recursive binds of a mount (their sandbox copy goes with the umount). */
  private readonly views = new Set<string>();
  constructor(readonly cfg: FakeConfig) {
    this.dirfs = new SandboxDirFs(cfg.sandbox, this.calls, cfg.fileFault);
    this.mounts = [...LIVE_MOUNTS, ...(cfg.mounts ?? [])];
    this.hostid = cfg.hostid;
    this.hostidLink = cfg.hostidLink ?? null;
  }

  private host(path: string): string {
    return `${this.cfg.sandbox}${path}`;
  }

  /** Commands that changed anything, in order. */
  mutations(): RecordedCall[] {
    return this.calls.filter((c) => c.mutating);
  }

  commandLines(): string[] {
    return this.calls.filter((c) => c.op === "run").map((c) => [c.file, ...c.args].join(" "));
  }

  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const input = opts.input === undefined ? "<none>" : opts.secretInput ? "<secret>" : opts.input;
    const shown = args.map((x) => (/^\/proc\/\d+\/fd\/\d+$/.test(x) ? this.kernelPath(x) : x));
    this.calls.push({
      op: "run",
      file,
      args: shown,
      raw: [...args],
      input,
      mutating: !isReadOnlyCommand(file, args),
    });
    const injected = this.cfg.fail?.(file, shown);
    if (injected) return { ...fail(1, "injected failure\n"), ...injected };
    const held = this.cfg.hold?.(file, args);
    if (held) {
      const proc = { file, args: [...args] };
      this.running.add(proc);
      try {
        const killed = await new Promise<boolean>((resolve) => {
          if (opts.signal?.aborted) return resolve(true);
          opts.signal?.addEventListener("abort", () => resolve(true), { once: true });
          held.then(
            () => resolve(false),
            () => resolve(false),
          );
        });
        if (killed) return { ...fail(143, ""), exitCode: 143 };
      } finally {
        this.running.delete(proc);
      }
    }
    const r = await this.dispatch(file, args, opts.input ?? "");
    // the work done (exit 0), and then the deadline: what the caller is told
    return r.exitCode === 0 && this.cfg.timesOut?.(file, shown)
      ? { ...r, exitCode: 124, timedOut: true, stdout: "", stderr: "" }
      : r;
  }

  /** Commands running now (held runs, spawned processes not ended): their paths are in use. */
  readonly running = new Set<{ file: string; args: string[] }>();

  /**
   * Whether anything uses `target` or a path below it, as the kernel sees it: a running command's
   * path argument, or a process of the sandbox's /proc (cwd, root, exe, fd/*, maps): the model of
   * other programs on the rescue system (a shell left in /mnt/home, a pager on a file).
   */
  private inUse(target: string): boolean {
    const below = (p: string) => p === target || p.startsWith(`${target}/`);
    for (const p of this.running) if (p.args.some((a) => a.startsWith("/") && below(a))) return true;
    const proc = this.host("/proc");
    let pids: string[] = [];
    try {
      pids = readdirSync(proc).filter((n) => /^\d+$/.test(n));
    } catch {
      return false;
    }
    const link = (p: string) => {
      try {
        return readlinkSync(p);
      } catch {
        return null;
      }
    };
    for (const pid of pids) {
      const base = `${proc}/${pid}`;
      const links = ["cwd", "root", "exe"].map((n) => link(`${base}/${n}`));
      let fds: string[] = [];
      try {
        fds = readdirSync(`${base}/fd`);
      } catch {}
      links.push(...fds.map((fd) => link(`${base}/fd/${fd}`)));
      if (links.some((l) => l !== null && below(l))) return true;
      try {
        if (mappedPaths(readFileSync(`${base}/maps`, "utf8")).some(below)) return true;
      } catch {}
    }
    return false;
  }

  private pool(nameOrGuid: string): FakePool | undefined {
    return this.cfg.pools.find((p) => p.name === nameOrGuid || p.guid === nameOrGuid);
  }

  spawn(file: string, args: readonly string[], opts: SpawnOptions = {}): Spawned {
    const input = opts.input === undefined ? "<none>" : opts.secretInput ? "<secret>" : opts.input;
    this.calls.push({ op: "run", file, args: [...args], input, mutating: !isReadOnlyCommand(file, args) });
    const script = this.cfg.spawnScript?.(file, args) ?? this.scriptOfExtra(file, args, opts.input ?? "");
    const listeners: ((l: OutputLine) => void)[] = [];
    let killed: string | null = null;
    let wake: (() => void) | null = null;
    const proc = { file, args: [...args] };
    this.running.add(proc);
    const done = (async () => {
      await new Promise((r) => setImmediate(r));
      if (!script) return { exitCode: 127, signal: null, notFound: true };
      for (const line of script.lines) {
        if (killed) break;
        for (const l of listeners) l(line);
        await new Promise((r) => setImmediate(r));
      }
      if (script.hang && !killed) await new Promise<void>((r) => (wake = r));
      return killed
        ? { exitCode: null, signal: killed, notFound: false }
        : { exitCode: script.exitCode, signal: null, notFound: false };
    })().finally(() => this.running.delete(proc));
    return {
      onLine: (l) => listeners.push(l),
      done,
      kill: (signal) => {
        killed = signal;
        (wake as (() => void) | null)?.();
      },
    };
  }

  /** Initrds are decoded by the real decoder workers (test/helpers/decoder-entry.ts builds their entry). */
  decodeInitrd(bytes: Buffer): Promise<InitrdInfo> {
    this.decoders ??= new Decoders(decoderEntry());
    return this.decoders.initrd(bytes);
  }
  private decoders: Decoders | null = null;

  /** The jail is the real one's contract: the program runs as `run` does here, the call records what it was given. */
  async runJailed(
    profile: JailProfileName,
    file: string,
    args: readonly string[],
    opts: JailOptions,
  ): Promise<JailedResult> {
    const r = await this.run(file, args, {
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const call = this.calls[this.calls.length - 1] as RecordedCall;
    call.jail = { profile, data: opts.data, ...(opts.group !== undefined ? { group: opts.group } : {}) };
    return { ...r, truncated: false };
  }

  spawnJailed(profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions): Spawned {
    const p = this.spawn(file, args, { env: opts.env });
    const call = this.calls[this.calls.length - 1] as RecordedCall;
    call.jail = { profile, data: opts.data, ...(opts.group !== undefined ? { group: opts.group } : {}) };
    return p;
  }

  /** A program answered through `extra` prints the same when it is spawned (journalctl paging). */
  private scriptOfExtra(file: string, args: readonly string[], input: string) {
    const r = this.cfg.extra?.(file, args, input);
    if (!r || r.notFound) return undefined;
    const lines = (stream: OutputLine["stream"], text: string): OutputLine[] =>
      text === ""
        ? []
        : text
            .replace(/\n$/, "")
            .split("\n")
            .map((t) => ({ stream, text: t }));
    return {
      lines: [...lines("stdout", r.stdout), ...lines("stderr", r.stderr)],
      exitCode: r.exitCode,
      hang: false,
    };
  }

  private dispatch(file: string, a: readonly string[], input: string): CommandResult {
    const extra = this.cfg.extra?.(file, a, input);
    if (extra) return extra;
    const o = this.cfg.outputs;
    switch (file) {
      case "lsblk":
        return ok(o.lsblk);
      case "blkid":
        return o.blkid === undefined ? fail(2, "") : ok(o.blkid);
      case "hostid":
        return ok(`${this.hostid}\n`);
      case "zpool":
        return this.zpool(a, o);
      case "zfs":
        return this.zfs(a, o, input);
      case "mount":
        return a.includes("--all") ? this.mountAll(a, o) : this.mount(a, o);
      case "umount":
        return this.umount(a);
      case "cryptsetup":
        return this.cryptsetup(a, input);
      default:
        return { ...fail(127, `${file}: not found`), notFound: true };
    }
  }

  private cryptsetup(a: readonly string[], input: string): CommandResult {
    const dev = a.find((x) => x.startsWith("/dev/")) ?? "";
    const pass = this.cfg.luks?.[dev];
    if (a[0] !== "open" || pass === undefined) return fail(4, `Device ${dev} is not a valid LUKS device.\n`);
    if (input !== pass)
      return fail(2, this.cfg.outputs.luksWrongStderr ?? "No key available with this passphrase.\n");
    if (a.includes("--test-passphrase")) return ok();
    return this.cfg.outputs.luksOpenStderr ? fail(1, this.cfg.outputs.luksOpenStderr) : ok();
  }

  /** The block device at `path` carries a label of pool `guid` (lsblk: TYPE zfs_member, UUID the guid). */
  private carries(path: string, guid: string): boolean {
    let devices: BlockDevice[] = [];
    try {
      devices = flattenDevices(parseLsblk(this.cfg.outputs.lsblk));
    } catch {}
    return devices.some((d) => d.path === path && d.fstype === "zfs_member" && d.uuid === guid);
  }

  private zpool(a: readonly string[], o: FakeOutputs): CommandResult {
    const [verb] = a;
    if (verb === "sync") return ok();
    if (verb === "import" && a.length === 1) {
      const any = this.cfg.pools.some((p) => !this.imported.has(p.name));
      return any && o.zpoolImportList ? ok(o.zpoolImportList) : ok("", "no pools available to import\n");
    }
    if (verb === "import") {
      const id = a[a.length - 1] as string;
      const p = this.pool(id);
      if (!p || this.imported.has(p.name)) return fail(1, `cannot import '${id}': no such pool available\n`);
      // -d: only the named devices are searched (zpool-import(8)); a pool none of them carries is
      // not found. Which device carries which pool: lsblk's zfs_member UUID, the pool's guid.
      const named = a.flatMap((x, i) => (a[i - 1] === "-d" ? [x] : []));
      if (named.length > 0 && !named.some((d) => this.carries(d, p.guid)))
        return fail(1, `cannot import '${id}': no such pool available\n`);
      if (p.unavailable)
        return fail(1, o.importUnavailableStderr ?? `cannot import '${p.name}': no such pool or dataset\n`);
      const force = a.includes("-f");
      if (!force && p.lastHostId && p.lastHostId !== this.hostid)
        return fail(
          1,
          o.importRefused ?? `cannot import '${p.name}': pool was previously in use from another system.\n`,
        );
      const ri = a.indexOf("-R");
      this.imported.set(p.name, {
        readonly: a.includes("readonly=on"),
        altroot: ri >= 0 ? (a[ri + 1] as string) : null,
        forced: force,
      });
      p.lastHostId = this.hostid;
      return ok();
    }
    if (verb === "export") {
      const p = this.pool(a[a.length - 1] as string);
      if (!p || !this.imported.has(p.name))
        return fail(1, `cannot open '${a[a.length - 1]}': no such pool\n`);
      const busy = this.mounts.find((m) => m.fstype === "zfs" && m.source.split("/")[0] === p.name);
      if (busy) return fail(1, `cannot unmount '${busy.target}': pool or dataset is busy\n`);
      this.imported.delete(p.name);
      this.keysLoaded.delete(p.encryptionRoot ?? "");
      p.lastHostId = null;
      return ok();
    }
    if (verb === "list") return ok(this.imported.size > 0 ? (o.zpoolListJ ?? "") : "");
    if (verb === "status")
      return this.imported.size > 0 ? ok(o.zpoolStatusJ ?? "") : ok("", "no pools available\n");
    return fail(2, `unrecognized command '${verb}'\n`);
  }

  private zfs(a: readonly string[], o: FakeOutputs, input: string): CommandResult {
    const [verb] = a;
    const importedNames = [...this.imported.keys()];
    const onlyImported = (text: string) =>
      text
        .split("\n")
        .filter((l) => l !== "" && importedNames.includes(l.split("\t")[0]?.split("/")[0] ?? ""))
        .map((l) => `${l}\n`)
        .join("");
    if (verb === "snapshot") {
      const name = a[a.length - 1] as string;
      const [pool, snap] = name.split("@") as [string, string];
      if (!this.imported.has(pool)) return fail(1, `cannot open '${pool}': dataset does not exist\n`);
      if (this.imported.get(pool)?.readonly) return fail(1, `cannot create snapshots : pool is read-only\n`);
      const datasets = (o.zfsListHp ?? "")
        .split("\n")
        .map((l) => l.split("\t")[0] ?? "")
        .filter((n) => n === pool || n.startsWith(`${pool}/`));
      if (this.poolAvail.get(pool) === 0)
        return fail(1, "cannot create snapshots : out of space\nno snapshots were created\n");
      const txg = this.txg++;
      for (const ds of a.includes("-r") ? datasets : [pool]) {
        this.snapshots.push(`${ds}@${snap}`);
        this.snapMeta.set(`${ds}@${snap}`, {
          createtxg: txg,
          creation: 1764100000 + txg,
          used: 0,
          written: 0,
          holds: 0,
          clones: [],
        });
      }
      return ok();
    }
    if (verb === "rollback") {
      const name = a[a.length - 1] as string;
      if (!this.snapshots.includes(name)) return fail(1, "cannot open snapshot: dataset does not exist\n");
      const [ds] = name.split("@") as [string];
      const txg = this.snapMeta.get(name)?.createtxg ?? 0;
      const later = this.snapshots.filter(
        (n) => n.startsWith(`${ds}@`) && (this.snapMeta.get(n)?.createtxg ?? 0) > txg,
      );
      if (later.length && !a.includes("-r"))
        return fail(1, `cannot rollback to '${name}': more recent snapshots or bookmarks exist\n`);
      for (const n of later) this.snapshots.splice(this.snapshots.indexOf(n), 1);
      return ok();
    }
    if (verb === "destroy" && (a.at(-1) ?? "").includes("@")) return this.destroySnapshots(a);
    if (verb === "list" && a.includes("snapshot")) {
      const cols = a[a.indexOf("-o") + 1] ?? "";
      // `-d 1`: the named dataset's own snapshots; `-r`: also those of every dataset under it
      const top = a.at(-1) as string;
      const listed = (n: string) => n.startsWith(`${top}@`) || (a.includes("-r") && n.startsWith(`${top}/`));
      if (!cols.includes("createtxg"))
        return ok(this.snapshots.map((n, i) => (listed(n) ? `${n}\t${1764100000 + i}\t0\n` : "")).join(""));
      const rows = this.snapshots
        .filter(listed)
        .map((n) => ({ n, m: this.snapMeta.get(n) }))
        .sort((x, y) => (x.m?.createtxg ?? 0) - (y.m?.createtxg ?? 0));
      return ok(
        rows
          .map(
            ({ n, m }) =>
              `${n}\t${m?.createtxg ?? 0}\t${m?.creation ?? 0}\t${m?.used ?? 0}\t${m?.written ?? 0}\t${m?.holds ?? 0}\t${m?.clones.length ? m.clones.join(",") : "-"}\n`,
          )
          .join(""),
      );
    }
    if (verb === "list" && (a[a.indexOf("-o") + 1] ?? "").startsWith("name,avail,")) {
      const pool = a.at(-1) as string;
      if (!importedNames.includes(pool)) return fail(1, `cannot open '${pool}': dataset does not exist\n`);
      const avail = this.poolAvail.get(pool) ?? 3352104960;
      const names = this.datasetListing()
        .split("\n")
        .map((l) => l.split("\t")[0] ?? "")
        .filter((n) => n === pool || n.startsWith(`${pool}/`));
      const snapUsed = (ds: string) =>
        this.snapshots
          .filter((n) => n.startsWith(`${ds}@`))
          .reduce((t, n) => t + (this.snapMeta.get(n)?.used ?? 0), 0);
      return ok(
        names
          .map((n) => {
            const bySnap = n === pool ? 0 : snapUsed(n);
            const children =
              n === pool ? names.filter((x) => x !== pool).reduce((t, x) => t + 98304 + snapUsed(x), 0) : 0;
            return `${n}\t${avail}\t${98304 + bySnap + children}\t${bySnap}\t98304\t${children}\t0\n`;
          })
          .join(""),
      );
    }
    if (verb === "list") {
      if (importedNames.length === 0) return ok("", "no datasets available\n");
      const text = this.datasetListing();
      // `zfs list -r <pool>…`: only those pools (an unknown one fails, as zfs does).
      const named = a
        .slice(1)
        // (the values of -o, -t, -s, -S and -d are not pool names, as zfs-list(8) parses them)
        .filter(
          (x, i, all) => !x.startsWith("-") && !["-o", "-t", "-s", "-S", "-d"].includes(all[i - 1] ?? ""),
        );
      const rows = onlyImported(text)
        .split("\n")
        .filter((l) => l !== "");
      const nameOf = (l: string) => l.split("\t")[0] ?? "";
      const exists = (n: string) => importedNames.includes(n) || rows.some((l) => nameOf(l) === n);
      for (const n of named) if (!exists(n)) return fail(1, `cannot open '${n}': dataset does not exist\n`);
      // zfs-list(8): `-r` the named datasets and everything under them, `-d 1` each named one and
      // its direct children, neither: exactly the named ones.
      const d = a.indexOf("-d");
      const depth1 = d >= 0 && a[d + 1] === "1";
      const parentOf = (n: string) => n.slice(0, Math.max(0, n.lastIndexOf("/")));
      const wanted = (n: string) =>
        named.includes(n) ||
        (depth1 && named.includes(parentOf(n))) ||
        (a.includes("-r") && named.some((x) => n.startsWith(`${x}/`)));
      const picked = named.length === 0 ? rows : rows.filter((l) => wanted(nameOf(l)));
      // `-o …,usedbydataset,usedbysnapshots,usedbyrefreservation,usedbychildren` (the split
      // listing): children's `used` (the last captured column) summed, the rest by the dataset
      // itself, unless the case says otherwise (zfsSpaceBreakdown).
      const o = a[a.indexOf("-o") + 1] ?? "";
      const withBreakdown = o.split(",").at(-1) === "usedbychildren";
      const used = (l: string) => Number(l.split("\t").at(-1)) || 0;
      const breakdown = (l: string) => {
        const n = nameOf(l);
        const given = this.cfg.outputs.zfsSpaceBreakdown?.[n];
        if (given) return given;
        const children = rows.filter((x) => parentOf(nameOf(x)) === n).reduce((t, x) => t + used(x), 0);
        return `${Math.max(0, used(l) - children)}\t0\t0\t${children}`;
      };
      return ok(picked.map((l) => (withBreakdown ? `${l}\t${breakdown(l)}\n` : `${l}\n`)).join(""));
    }
    if (verb === "get") return ok(o.zfsGetCrypto ?? "");
    if (verb === "load-key") {
      const target = a[a.length - 1] as string;
      const p = this.cfg.pools.find((x) => x.encryptionRoot && target.split("/")[0] === x.name);
      if (!p || !this.imported.has(p.name))
        return fail(1, `cannot open '${target}': dataset does not exist\n`);
      if (target !== p.encryptionRoot)
        return fail(255, o.loadKeyChildStderr ?? "Key load error: Keys must be loaded for encryption root\n");
      if (this.keysLoaded.has(target))
        return fail(255, o.loadKeyAgainStderr ?? "Key load error: Key already loaded\n");
      const location = a.includes("-L") ? a[a.indexOf("-L") + 1] : (p.keylocation ?? "prompt");
      const given =
        location === "prompt"
          ? input
          : location?.startsWith("file://")
            ? (readFileSync(location.slice("file://".length), "utf8") ?? "")
            : "";
      if (given.replace(/\n$/, "") !== p.passphrase)
        return fail(255, o.loadKeyWrongStderr ?? "Key load error: Incorrect key provided\n");
      this.keysLoaded.add(target);
      return ok();
    }
    if (verb === "mount")
      // Lifeboat mounts datasets with mount(8) onto verified targets; `zfs mount` resolves the
      // mountpoint itself and is not modelled, so a call to it fails loudly here.
      return fail(2, "fake: zfs mount is not modelled (Lifeboat must not use it)\n");
    return fail(2, `unrecognized command '${verb}'\n`);
  }

  /**
   * `zfs destroy [-n] -v -p [-r] <ds>@a,b`: every named snapshot of <ds> (and its descendants with
   * -r) in one batch, all or none (lzc_destroy_snaps); the -v -p lines as cmd/zfs prints them.
   */
  private destroySnapshots(a: readonly string[]): CommandResult {
    if (a.some((x) => /^-[a-zA-Z]*[fRd]/.test(x))) return fail(2, "fake: -f/-R/-d are not modelled\n");
    const [ds, spec] = (a.at(-1) as string).split("@") as [string, string];
    const wanted = spec.split(",");
    const names = this.snapshots.filter((n) => {
      const [d, s] = n.split("@") as [string, string];
      return wanted.includes(s) && (d === ds || (a.includes("-r") && d.startsWith(`${ds}/`)));
    });
    if (names.length === 0)
      return fail(1, "could not find any snapshots to destroy; check snapshot names.\n");
    const cloned = names.find((n) => this.snapMeta.get(n)?.clones.length);
    if (cloned)
      return fail(
        1,
        `cannot destroy '${cloned}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n${this.snapMeta.get(cloned)?.clones.join("\n")}\n`,
      );
    const reclaim = names.reduce((t, n) => t + (this.snapMeta.get(n)?.used ?? 0), 0);
    const out = `${names.map((n) => `destroy\t${n}\n`).join("")}reclaim\t${reclaim}\n`;
    if (a.includes("-n")) return ok(out);
    const held = names.find((n) => (this.snapMeta.get(n)?.holds ?? 0) > 0);
    if (held)
      return {
        ...fail(
          1,
          `cannot destroy snapshot ${held}: it's being held. Run 'zfs holds -r ${held}' to see holders.\n`,
        ),
        stdout: out,
      };
    for (const n of names) this.snapshots.splice(this.snapshots.indexOf(n), 1);
    const pool = ds.split("/")[0] as string;
    this.poolAvail.set(pool, (this.poolAvail.get(pool) ?? 3352104960) + reclaim);
    return ok(out);
  }

  /** The captured listing in force (locked or unlocked), as `zfs list -H -p` prints it. */
  private datasetListing(): string {
    const o = this.cfg.outputs;
    const locked = this.cfg.pools.some((p) => p.encryptionRoot && !this.keysLoaded.has(p.encryptionRoot));
    return !locked && o.zfsListHpUnlocked ? o.zfsListHpUnlocked : (o.zfsListHp ?? "");
  }

  /** Logical path (the sandbox plays "/") of a host path; host paths outside the sandbox stay as they are, marked. */
  private logical(hostPath: string): string {
    const sb = this.cfg.sandbox.replace(/\/+$/, "");
    if (hostPath === sb) return "/";
    if (hostPath.startsWith(`${sb}/`)) return hostPath.slice(sb.length);
    return `!host:${hostPath}`;
  }

  /**
   * Where the kernel would put a mount given `target` (models fs/namei.c): a /proc/<pid>/fd/<n>
   * magic link is the directory that fd was opened on; any other path is walked component by
   * component, following every symlink (absolute ones from the machine's "/", i.e. the sandbox),
   * wherever it leads, also outside the rescue root.
   */
  kernelPath(target: string): string {
    const fd = /^\/proc\/(\d+)\/fd\/(\d+)$/.exec(target);
    if (fd) return this.logical(readlinkSync(`/proc/self/fd/${fd[2]}`));
    let pending = target.split("/").filter((x) => x !== "" && x !== ".");
    const done: string[] = [];
    for (let hops = 0; pending.length > 0; ) {
      const seg = pending.shift() as string;
      if (seg === "..") {
        done.pop();
        continue;
      }
      done.push(seg);
      let link: string | null = null;
      try {
        link = readlinkSync(this.host(`/${done.join("/")}`));
      } catch {
        link = null;
      }
      if (link === null) continue;
      if (++hops > 40) break;
      done.pop();
      if (link.startsWith("/")) done.length = 0;
      pending = [...link.split("/").filter((x) => x !== "" && x !== "."), ...pending];
    }
    return `/${done.join("/")}`;
  }

  /** mount(8) as Lifeboat runs it: `[--no-canonicalize] [--bind] [-t T] [-o O] SOURCE TARGET` or `-o remount,… TARGET`. */
  private mount(a: readonly string[], o: FakeOutputs): CommandResult {
    let fstype = "auto";
    let opts: string[] = ["rw"];
    let bind = false;
    const internal = a.includes("--internal-only") || a.includes("-i");
    const pos: string[] = [];
    for (let i = 0; i < a.length; i++) {
      const x = a[i] as string;
      if (x === "-t") fstype = a[++i] as string;
      else if (x === "-o") opts = (a[++i] as string).split(",");
      else if (x === "--bind" || x === "-B") bind = true;
      else if (x.startsWith("-")) continue;
      else pos.push(x);
    }
    if (opts.includes("remount")) {
      const target = this.kernelPath(pos[pos.length - 1] as string);
      const m = [...this.mounts].reverse().find((x) => x.target === target);
      if (!m) return fail(32, `mount: ${target}: not mount point or bad option.\n`);
      const rest = opts.filter((x) => x !== "remount");
      m.options = rest.includes("ro")
        ? ["ro", ...rest.filter((x) => x !== "ro")]
        : ["rw", ...rest.filter((x) => x !== "rw")];
      return ok();
    }
    if (pos.length !== 2) return fail(1, "mount: bad usage\n");
    const [rawSource, rawTarget] = pos as [string, string];
    const target = this.kernelPath(rawTarget);
    if (bind) {
      const source = this.kernelPath(rawSource);
      const from = [...this.mounts]
        .reverse()
        .find((m) => source === m.target || source.startsWith(`${m.target}/`));
      // the kernel's view of a bind (mountinfo): the file system it comes from, and the directory of it
      const place = from ? this.placeOf(from) : null;
      const below = from && source !== from.target ? source.slice(from.target.length) : "";
      this.mounts.push({
        source,
        target,
        fstype: from?.fstype ?? "none",
        options: from?.options ?? ["rw"],
        ...(place
          ? { dev: place.dev, root: place.root === "/" ? below || "/" : `${place.root}${below}` }
          : {}),
      } as MountEntry);
      // a non-recursive bind of a mount shows that file system alone, without what is mounted on it:
      // the sandbox keeps that (what the ESP hides under /mnt/boot…) in .underneath/<source>
      // (modelled for private binds only: fstab's bind entries keep the sandbox as it is)
      if (a.includes("--make-private") && !a.includes("--rbind") && from?.target === source) {
        const alone = `${this.cfg.sandbox}/.underneath${source}`;
        mkdirSync(alone, { recursive: true });
        cpSync(alone, this.host(target), { recursive: true, preserveTimestamps: true });
        this.views.add(target);
      }
      return ok();
    }
    const options = [...opts];
    if (fstype === "zfs") {
      const ds = rawSource;
      const poolName = ds.split("/")[0] as string;
      const p = this.pool(poolName);
      if (!p || !this.imported.has(poolName))
        return fail(1, `filesystem '${ds}' cannot be mounted, unable to open the dataset\n`);
      const row = this.datasetListing()
        .split("\n")
        .map((l) => l.split("\t"))
        .find((c) => c[0] === ds);
      if (!row) return fail(1, `filesystem '${ds}' cannot be mounted, unable to open the dataset\n`);
      if (p.encryptionRoot && !this.keysLoaded.has(p.encryptionRoot))
        return internal
          ? fail(32, `mount: ${rawTarget}: permission denied.\n`)
          : fail(2, o.mountLockedStderr ?? "zfs_mount_at() failed: encryption key not loaded");
      // cmd/mount_zfs.c: zfsutil only for datasets with their own mountpoint, and required for them.
      // Without the helper (mount -i) the kernel ignores zfsutil (zfs_vfsops.c: unknown options).
      const legacy = row[1] === "legacy";
      if (!internal && legacy && options.includes("zfsutil"))
        return fail(
          1,
          o.zfsutilLegacyStderr?.replaceAll("tank/data", ds) ??
            `filesystem '${ds}' cannot be mounted using 'zfs mount'.\n`,
        );
      if (!internal && !legacy && !options.includes("zfsutil"))
        return fail(
          1,
          o.zfsutilMissingStderr?.replaceAll("tank/backups", ds) ??
            `filesystem '${ds}' cannot be mounted using 'mount'.\n`,
        );
      if (this.mounts.some((m) => m.fstype === "zfs" && m.source === ds))
        return fail(32, `filesystem '${ds}' is already mounted\n`);
      if (this.imported.get(poolName)?.readonly && !options.includes("ro")) options.push("ro");
    }
    let shown = options.filter((x) => x !== "zfsutil" && x !== "defaults" && !x.startsWith("mntpoint="));
    if (this.cfg.landsReadWrite?.(rawSource)) shown = shown.filter((x) => x !== "ro");
    this.mounts.push({
      source: rawSource,
      target,
      fstype,
      options: shown.includes("ro")
        ? ["ro", ...shown.filter((x) => x !== "ro")]
        : ["rw", ...shown.filter((x) => x !== "rw")],
    });
    return ok();
  }

  /**
   * `mount --all --fstab <file>` (util-linux sys-utils/mount.c, libmount context_mount.c): every
   * fstab(5) line of the table (a regular file: util-linux 2.38.1 refuses a pipe, "failed to
   * parse", tried on this host) mounted in order exactly as a
   * single `mount -t <type> -o <options> <source> <target>` would, `noauto` lines skipped, fields
   * unescaped (\ooo, libmount's unmangle); a failure is reported on stderr and the rest go on.
   * `--fork` (one child per entry, side by side) is modelled in order: siblings only, so the
   * order does not change what ends up mounted; `cfg.fail` is asked for every entry as well.
   * Exit (mount(8) "RETURN CODES"): 0 all mounted, 32 none, 64 some.
   */
  private mountAll(a: readonly string[], o: FakeOutputs): CommandResult {
    const at = a.indexOf("--fstab");
    const file = at < 0 ? "/etc/fstab" : (a[at + 1] as string);
    // libmount parses a regular file only (a pipe, e.g. /proc/self/fd/0, is "failed to parse").
    if (file.startsWith("/proc/") || file.startsWith("/dev/"))
      return fail(1, `mount: ${file}: failed to parse\n`);
    let table: string;
    try {
      table = readFileSync(this.host(file), "utf8");
    } catch {
      return fail(1, `mount: ${file}: failed to parse\n`);
    }
    this.waveTables.push(
      table
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => l.replace(/\/proc\/\d+\/fd\/\d+/g, (x) => this.kernelPath(x))),
    );
    const unmangle = (x: string) =>
      x.replace(/\\([0-7]{3})/g, (_, n: string) => String.fromCharCode(Number.parseInt(n, 8)));
    let okCount = 0;
    let failed = 0;
    let stderr = "";
    for (const line of table.split("\n")) {
      if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
      const [source = "", target = "", type = "auto", opts = "defaults"] = line
        .trim()
        .split(/\s+/)
        .map(unmangle);
      if (opts.split(",").includes("noauto")) continue;
      // --internal-only: mount(2) without the mount.<type> helper (mount(8) -i)
      const internal = a.includes("--internal-only") || a.includes("-i");
      const args = [
        "--no-canonicalize",
        ...(internal ? ["--internal-only"] : []),
        "-t",
        type,
        ...(opts === "defaults" ? [] : ["-o", opts]),
        source,
        target,
      ];
      // Each entry is its own child under --fork: a fault injected into one fails that entry alone
      // (args as the single mount would show them, the target as the kernel resolves it).
      const injected = this.cfg.fail?.(
        "mount",
        args.map((x) => (/^\/proc\/\d+\/fd\/\d+$/.test(x) ? this.kernelPath(x) : x)),
      );
      const r = injected ? { ...fail(32, "injected failure\n"), ...injected } : this.mount(args, o);
      if (r.exitCode === 0) okCount++;
      else {
        failed++;
        stderr += `mount: ${target}: ${r.stderr.trim()}\n`;
      }
    }
    if (failed === 0) return ok();
    return fail(okCount === 0 ? 32 : 64, stderr);
  }

  /**
   * `umount --recursive` as util-linux does it (sys-utils/umount.c umount_do_recurse): the children
   * of a mount in the table's order, each with its own children first, then the mount itself;
   * stops at the first that fails. `cfg.fail` is asked for each one as for `umount <target>`.
   */
  private umountRecursive(top: string): CommandResult {
    const below = (t: string, p: string) => t !== p && t.startsWith(p === "/" ? "/" : `${p}/`);
    const one = (target: string): CommandResult => {
      const inner = this.mounts.filter((m) => below(m.target, target));
      const children = inner.filter((c) => !inner.some((o) => below(c.target, o.target)));
      for (const c of children) {
        const r = one(c.target);
        if (r.exitCode !== 0) return r;
      }
      const injected = this.cfg.fail?.("umount", [target]);
      if (injected) return { ...fail(32, "injected failure\n"), ...injected };
      return this.umount([target]);
    };
    return one(this.kernelPath(top));
  }

  /** umount(8) canonicalizes its argument (following links) and unmounts the topmost mount there. */
  private umount(a: readonly string[]): CommandResult {
    if (a.includes("--recursive") || a.includes("-R")) return this.umountRecursive(a[a.length - 1] as string);
    const target = this.kernelPath(a[a.length - 1] as string);
    let i = -1;
    for (let j = this.mounts.length - 1; j >= 0; j--)
      if ((this.mounts[j] as MountEntry).target === target) {
        i = j;
        break;
      }
    if (i < 0) return fail(32, `umount: ${target}: not mounted.\n`);
    if (this.mounts.some((m, j) => j > i && m.target.startsWith(`${target === "/" ? "" : target}/`)))
      return fail(32, `umount: ${target}: target is busy.\n`);
    if (this.inUse(target)) return fail(32, `umount: ${target}: target is busy.\n`);
    this.mounts.splice(i, 1);
    if (this.views.delete(target)) rmSync(this.host(target), { recursive: true, force: true });
    return ok();
  }

  private procMounts(): string {
    const esc = (s: string) =>
      s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
    return this.mounts
      .map((m) => `${esc(m.source)} ${esc(m.target)} ${m.fstype} ${m.options.join(",")} 0 0\n`)
      .join("");
  }

  private readonly devs = new Map<string, string>();
  /** A mount's file system (one made-up major:minor per source) and the directory of it at its root. */
  private placeOf(m: MountEntry): { dev: string; root: string } {
    const own = m as MountEntry & { dev?: string; root?: string };
    if (own.dev && own.root) return { dev: own.dev, root: own.root };
    if (!this.devs.has(m.source)) this.devs.set(m.source, `0:${100 + this.devs.size}`);
    const subvol =
      m.fstype === "btrfs" ? m.options.find((o) => o.startsWith("subvol="))?.slice(7) : undefined;
    return { dev: this.devs.get(m.source) as string, root: subvol ? `/${subvol.replace(/^\/+/, "")}` : "/" };
  }

  /** /proc/self/mountinfo (proc(5)) of the mounts above. */
  private mountInfo(): string {
    const esc = (s: string) =>
      s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
    return this.mounts
      .map((m, i) => {
        const { dev, root } = this.placeOf(m);
        return `${30 + i} 1 ${dev} ${esc(root)} ${esc(m.target)} ${m.options.join(",")} - ${m.fstype} ${esc(m.source)} ${m.options.join(",")}\n`;
      })
      .join("");
  }

  async readFile(path: string): Promise<Buffer | null> {
    if (path === "/proc/mounts" || path === "/proc/self/mounts") return Buffer.from(this.procMounts());
    if (path === "/proc/self/mountinfo") return Buffer.from(this.mountInfo());
    if (path === "/etc/hostid") return Buffer.from(encodeHostIdFile(this.hostid));
    try {
      return await readFile(this.host(path));
    } catch {
      return null;
    }
  }

  async writeFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
    this.calls.push({ op: "writeFile", file: path, args: [], mutating: true });
    if (path === "/etc/hostid") {
      if (this.hostidLink)
        throw Object.assign(new Error("EROFS: read-only file system, open '/etc/hostid'"), { code: "EROFS" });
      const b = Buffer.from(data);
      this.hostid = b.readUInt32LE(0).toString(16).padStart(8, "0");
      return;
    }
    if (path === "/sys/module/spl/parameters/spl_hostid") {
      if (this.cfg.splHostIdFixed) throw Object.assign(new Error("EACCES"), { code: "EACCES" });
      return;
    }
    await mkdir(dirname(this.host(path)), { recursive: true });
    await writeFile(this.host(path), data, { mode });
  }

  async removeFile(path: string): Promise<void> {
    this.calls.push({ op: "removeFile", file: path, args: [], mutating: true });
    if (path === "/etc/hostid") {
      this.hostidLink = null;
      return;
    }
    await rm(this.host(path), { force: true });
  }

  async readlink(path: string): Promise<string | null> {
    if (path === "/etc/hostid") return this.hostidLink;
    try {
      return await readlink(this.host(path));
    } catch {
      return null;
    }
  }

  async lstat(path: string): Promise<FileInfo | null> {
    if (path === "/sys/module/spl/parameters/spl_hostid")
      return { type: "file", size: 4096, mode: 0o644, mtimeMs: 0 };
    try {
      const s = await lstat(this.host(path));
      return {
        type: s.isSymbolicLink() ? "link" : s.isDirectory() ? "dir" : s.isFile() ? "file" : "other",
        size: s.size,
        mode: s.mode & 0o7777,
        mtimeMs: s.mtimeMs,
      };
    } catch {
      return null;
    }
  }

  async readdir(path: string): Promise<string[] | null> {
    try {
      return (await readdir(this.host(path))).sort();
    } catch {
      return null;
    }
  }

  async mkdir(path: string): Promise<void> {
    this.calls.push({ op: "mkdir", file: path, args: [], mutating: true });
    await mkdir(this.host(path), { recursive: true });
  }

  async symlink(target: string, path: string): Promise<void> {
    this.calls.push({ op: "symlink", file: path, args: [target], mutating: true });
    if (path === "/etc/hostid") {
      this.hostidLink = target;
      this.hostid = this.cfg.hostid;
      return;
    }
    await mkdir(dirname(this.host(path)), { recursive: true });
    await symlink(target, this.host(path));
  }

  async rename(from: string, to: string): Promise<void> {
    this.calls.push({ op: "rename", file: from, args: [to], mutating: true });
    await rename(this.host(from), this.host(to));
  }

  /** The product's own walker (system/mounttarget.ts) on the sandbox: no-follow opens are real. */
  async openDirInRoot(root: string, path: string, opts: { create: boolean }): Promise<OpenedDir> {
    const r = await openDirInRoot(this.host(root), path, { ...opts, shownRoot: root });
    for (const c of r.created) this.calls.push({ op: "mkdir", file: c, args: [], mutating: true });
    return r;
  }
}

// ── Confined file access (issue 10) ─────────────────────────────────────────────────────────────
// The real primitives (agent/src/system/rootfs-node.ts) on real files in the sandbox: the kernel's
// own semantics apply (a symlink, FIFO or device node planted in the sandbox behaves as on a
// disk), only the root is mapped into the sandbox. Mutating calls are recorded with their
// sandbox-relative path; `fileFault` makes any call fail like a broken disk or hang like a dead one.

class SandboxDirFs implements DirFs {
  private readonly real = new NodeDirFs();
  constructor(
    private readonly sandbox: string,
    private readonly calls: RecordedCall[],
    private readonly fault: FakeConfig["fileFault"],
  ) {}

  /** Sandbox-relative path of `name` in the directory a descriptor holds. */
  private async where(fd: number, name?: string): Promise<string> {
    const host = await readlink(`/proc/self/fd/${fd}`).catch(() => "?");
    const rel = host.startsWith(this.sandbox) ? host.slice(this.sandbox.length) || "/" : host;
    return name === undefined ? rel : `${rel.replace(/\/$/, "")}/${name}`;
  }

  private async check(op: FileOp, fd: number, name?: string): Promise<string> {
    const path = await this.where(fd, name);
    const f = this.fault?.(op, path);
    if (f === "hang") await new Promise<never>(() => undefined);
    if (f) throw Object.assign(new Error(`${f}: injected, ${op} '${path}'`), { code: f });
    return path;
  }

  private record(op: RecordedCall["op"], file: string, args: string[] = []): void {
    this.calls.push({ op, file, args, mutating: true });
  }

  openRoot(path: string): Promise<number> {
    return this.real.openRoot(`${this.sandbox}${path}`);
  }
  async lstatAt(dir: number, name: string): Promise<NodeStat | null> {
    await this.check("lstat", dir, name);
    return this.real.lstatAt(dir, name);
  }
  readlinkAt(dir: number, name: string): Promise<string | null> {
    return this.real.readlinkAt(dir, name);
  }
  async openAt(dir: number, name: string, how: OpenHow, mode?: number): Promise<number> {
    const path = await this.check("open", dir, name);
    if (how === "create" || how === "append") this.record(how, path);
    return this.real.openAt(dir, name, how, mode);
  }
  fstat(fd: number): Promise<NodeStat> {
    return this.real.fstat(fd);
  }
  async read(fd: number, max: number): Promise<Buffer> {
    await this.check("read", fd);
    return this.real.read(fd, max);
  }
  async write(fd: number, data: Uint8Array): Promise<void> {
    await this.check("write", fd);
    return this.real.write(fd, data);
  }
  async fsync(fd: number): Promise<void> {
    await this.check("fsync", fd);
    return this.real.fsync(fd);
  }
  close(fd: number): Promise<void> {
    return this.real.close(fd);
  }
  async readdir(dir: number, max: number): Promise<Buffer[]> {
    await this.check("readdir", dir);
    return this.real.readdir(dir, max);
  }
  async mkdirAt(dir: number, name: string, mode: number): Promise<void> {
    const path = await this.check("mkdir", dir, name);
    this.record("mkdir", path);
    return this.real.mkdirAt(dir, name, mode);
  }
  async renameAt(dir: number, from: string, to: string): Promise<void> {
    const path = await this.check("rename", dir, from);
    this.record("rename", path, [await this.where(dir, to)]);
    return this.real.renameAt(dir, from, to);
  }
  async unlinkAt(dir: number, name: string): Promise<void> {
    const path = await this.check("unlink", dir, name);
    this.record("removeFile", path);
    return this.real.unlinkAt(dir, name);
  }
}
