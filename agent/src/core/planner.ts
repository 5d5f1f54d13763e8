import {
  type Altroots,
  type Candidate,
  diskOf,
  findEsps,
  nixDatasetOf,
  rootDatasetOf,
} from "./candidates.js";
import { classifyOptions, finalOptions, isMountableType } from "./mountOptions.js";
import { orderMounts } from "./mountOrder.js";
import type { FstabEntry } from "./mounts.js";
import type {
  MountRole,
  MountStep,
  PlanInput,
  PlanStep,
  PoolFacts,
  PoolReason,
  RefusedLine,
  SkippedKind,
} from "./plan.js";
import { cleanTarget, isBootloaderPath, joinRoot, roleOf } from "./planPaths.js";
import { type DeviceIndex, indexDevices, resolveSource } from "./sources.js";
import { type Dataset, isDatasetName, systemPathOf } from "./zfs.js";

/** Filesystems that hold nothing of the installed system on its disks. */
const VIRTUAL = new Set([
  "swap",
  "none",
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "ramfs",
  "overlay",
  "efivarfs",
  "securityfs",
  "cgroup",
  "cgroup2",
  "debugfs",
  "tracefs",
  "configfs",
  "fusectl",
  "hugetlbfs",
  "mqueue",
  "pstore",
  "bpf",
  "autofs",
  "binfmt_misc",
]);
const NETWORK = new Set([
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "9p",
  "sshfs",
  "fuse",
  "fuse.sshfs",
  "virtiofs",
  "glusterfs",
  "ceph",
]);
const ESSENTIAL = new Set(["/", "/nix", "/nix/store"]);
const MAX_NOTES = 60;

/** exec stays only where the rebuild chroot runs programs: / (and /tmp on it) and the store. */
function needsExec(path: string, readonly: boolean): boolean {
  return !readonly && (path === "/" || path === "/nix" || path.startsWith("/nix/"));
}

type Draft = Omit<MountStep, "kind" | "target" | "role" | "parent"> & { role?: MountRole };

/** The planner's working state: one pass over the inputs, hash lookups only. */
export class Planner {
  readonly notes: string[] = [];
  readonly refused: RefusedLine[] = [];
  readonly drafts: Draft[] = [];
  readonly paths = new Map<string, number>();
  readonly sources = new Set<string>();
  readonly systemPools: string[] = [];
  readonly poolReasons = new Map<string, Omit<PoolReason, "pool">>();
  readonly locked: { path: string; dataset: string; essential: boolean }[] = [];
  /** What the entry being planned is (an fstab line, a mount unit's bind, a dataset). */
  private kindNow: SkippedKind = "dataset";
  private unitNow: string | undefined;
  private suppressed = 0;
  complete = true;
  readonly index: DeviceIndex;
  readonly datasets: Map<string, Dataset>;
  readonly pools: Map<string, PoolFacts>;
  readonly altroots: Altroots;

  constructor(readonly input: PlanInput) {
    this.index = indexDevices(input.devices);
    this.datasets = new Map(input.datasets.map((d) => [d.name, d]));
    this.pools = new Map((input.pools ?? []).map((p) => [p.name, p]));
    const c = input.candidate;
    if (c.kind === "zfs" && !this.pools.has(c.pool))
      this.pools.set(c.pool, {
        name: c.pool,
        guid: c.guid,
        imported: c.imported,
        importable: c.importable,
        // Lifeboat imports with `-R <root>`: a pool it imported carries the rescue root.
        altroot: input.root.replace(/\/+$/, "") || "/",
      });
    this.altroots = new Map(
      [...this.pools.values()].map((p) => [
        p.name,
        p.imported ? p.altroot : input.root.replace(/\/+$/, "") || "/",
      ]),
    );
    if (c.kind === "zfs")
      this.usePool(c.pool, "the system's root pool", input.requested ? "request" : "root");
  }

  note(text: string): void {
    if (this.notes.length < MAX_NOTES) this.notes.push(text);
    else this.suppressed++;
  }

  finishNotes(): string[] {
    return this.suppressed > 0 ? [...this.notes, `… and ${this.suppressed} more notes`] : this.notes;
  }

  usePool(pool: string, reason: string, importedBecause: string, readonly = false): void {
    if (this.poolReasons.has(pool)) return;
    this.poolReasons.set(pool, { reason, importedBecause, readonly });
    this.systemPools.push(pool);
  }

  poolReason(pool: string): PoolReason {
    const r = this.poolReasons.get(pool) ?? { reason: "", importedBecause: "root", readonly: false };
    return { pool, ...r, readonly: r.readonly || this.input.readonly };
  }

  /** A pool the system imports at boot (its import unit): used when it is here and importable. */
  bootPool(nameOrGuid: string): void {
    const p = this.pools.get(nameOrGuid) ?? [...this.pools.values()].find((x) => x.guid === nameOrGuid);
    const unit = `zfs-import-${nameOrGuid}.service`;
    if (!p) {
      this.skip(
        "",
        nameOrGuid,
        `the system imports pool ${nameOrGuid} at boot (${unit}) but it is not here`,
        "pool",
      );
      return;
    }
    if (this.poolReasons.has(p.name)) return;
    if (!p.imported && !p.importable) {
      // Its import failed in this run: the run lists it with the failure already.
      if (p.failure) return;
      this.skip(
        "",
        p.name,
        `the system imports pool ${p.name} at boot (${unit}) but it cannot be imported here (${p.failure ?? "devices missing"})`,
        "pool",
      );
      return;
    }
    // Named by the disk alone (no fstab line needs it): imported read-only whatever the request.
    this.usePool(
      p.name,
      `imported at boot by ${unit} (boot.zfs.extraPools or a data pool)`,
      `extraPools unit ${unit}`,
      true,
    );
  }

  refuse(path: string, source: string, reason: string): void {
    const unit = this.kindNow === "mount-unit" && this.unitNow ? `${this.unitNow} (What=${source})` : source;
    this.skip(path, unit, reason, this.kindNow);
  }

  /** An entry not mounted: listed with its reason (and as a note); `/` or `/nix` makes the plan incomplete. */
  skip(path: string, source: string, reason: string, kind: SkippedKind): void {
    const essential = ESSENTIAL.has(path);
    this.refused.push({ path, source: source.slice(0, 200), reason, essential, kind });
    this.note(`not mounted: ${path || "pool"} (${source.slice(0, 100)}): ${reason}`);
    if (essential) this.complete = false;
  }

  /** A locked dataset the system would mount: skipped, and remembered (its key may be loaded later). */
  private lockedDataset(path: string, d: Dataset | undefined, name: string): void {
    const essential = ESSENTIAL.has(path);
    this.locked.push({ path, dataset: name, essential });
    const root = d?.encryptionRoot ?? name.split("/")[0];
    this.refuse(
      path,
      name,
      `locked: the encryption key of ${root} is not loaded (load it, then mount again to complete)`,
    );
  }

  /** Add a mount unless its path is taken (first wins: fstab order, then ZFS's own mounts). */
  /** `track`: remember the source (ZFS's own mounts come last and are never looked up by it). */
  add(d: Draft, track = true): boolean {
    if (this.paths.has(d.path)) return false;
    this.paths.set(d.path, this.drafts.length);
    this.drafts.push(this.unitNow && this.kindNow === "mount-unit" ? { ...d, unit: this.unitNow } : d);
    if (d.method === "mount" && track) this.sources.add(d.source);
    return true;
  }

  private readonly optionCache = new Map<string, string[] | null>();
  /** Final options; identical inputs share one (never mutated) array: 100k datasets, a handful of lists. */
  options(fstype: string, kept: string[], path: string, readonly = this.input.readonly): string[] | null {
    const exec = needsExec(path, readonly);
    const key = `${fstype}\0${exec}\0${readonly}\0${kept.join(",")}`;
    let o = this.optionCache.get(key);
    if (o === undefined) {
      o = finalOptions(fstype, kept, { readonly, exec });
      this.optionCache.set(key, o);
    }
    return o;
  }

  // ── fstab ────────────────────────────────────────────────────────────────────────────────────

  fstabLine(e: FstabEntry): void {
    this.kindNow = e.unit ? "mount-unit" : "fstab";
    this.unitNow = e.unit;
    try {
      this.fstabLineOf(e);
    } finally {
      this.kindNow = "dataset";
      this.unitNow = undefined;
    }
  }

  private fstabLineOf(e: FstabEntry): void {
    if (e.fstype === "swap" || e.target === "none" || e.target === "swap") return;
    const probe = classifyOptions(e.options, "none");
    // NixOS writes bind mounts with fsType "none" (or "auto"): the option decides.
    if (!probe.bind && !probe.refused && VIRTUAL.has(e.fstype)) return;
    const path = cleanTarget(e.target);
    if (path === null) {
      this.refuse(e.target.slice(0, 100), e.source, "not a plain absolute path inside the system");
      return;
    }
    if (NETWORK.has(e.fstype) || e.fstype.startsWith("fuse.")) {
      this.note(`${path}: network/FUSE filesystem ${e.fstype} is not mounted`);
      return;
    }
    if (probe.noauto && !probe.automount && !isBootloaderPath(path)) {
      this.note(`${path}: noauto in fstab, not mounted`);
      return;
    }
    if (probe.refused) {
      this.refuse(path, e.source, probe.refused);
      return;
    }
    if (probe.bind) {
      this.bindLine(e, path);
      return;
    }
    if (e.fstype === "tmpfs") {
      this.tmpfsLine(e, path);
      return;
    }
    if (e.fstype === "zfs") {
      this.zfsLine(e, path);
      return;
    }
    this.deviceLine(e, path);
  }

  private bindLine(e: FstabEntry, path: string): void {
    const from = cleanTarget(e.source);
    if (from === null) {
      this.refuse(path, e.source, "bind source is not a plain absolute path inside the system");
      return;
    }
    // A bind onto its own source, inside it, or over one of its parents would show the tree
    // inside itself: refused.
    if (
      from === path ||
      from.startsWith(`${path}/`) ||
      path === "/" ||
      from === "/" ||
      path.startsWith(`${from}/`)
    ) {
      this.refuse(path, e.source, "bind source and target contain each other");
      return;
    }
    this.add({
      source: joinRoot(this.input.root, from),
      path,
      fstype: "none",
      options: [],
      method: "bind",
      origin: "fstab",
      from,
    });
  }

  private tmpfsLine(e: FstabEntry, path: string): void {
    if (path !== "/") {
      this.note(`${path}: tmpfs in fstab, nothing of it is on the disks: not mounted`);
      return;
    }
    const o = classifyOptions(e.options, "tmpfs");
    this.add({
      source: "tmpfs",
      path,
      fstype: "tmpfs",
      options: this.options("tmpfs", o.kept, path) as string[],
      method: "mount",
      origin: "tmpfs-root",
    });
  }

  private zfsLine(e: FstabEntry, path: string): void {
    const name = e.source;
    if (!isDatasetName(name)) {
      this.refuse(path, name, "not a ZFS dataset name");
      return;
    }
    const pool = name.split("/")[0] as string;
    const facts = this.pools.get(pool);
    if (!facts || (!facts.imported && !facts.importable)) {
      const why = facts
        ? `pool ${pool} cannot be imported (${facts.failure ?? "devices missing"})`
        : `pool ${pool} was not found on this machine`;
      this.refuse(path, name, why);
      return;
    }
    this.usePool(pool, `the installed fstab mounts ${name} at ${path}`, "fstab");
    const ds = this.datasets.get(name);
    if (!ds && facts.imported) {
      this.refuse(path, name, `dataset ${name} does not exist`);
      return;
    }
    if (ds?.keystatus === "unavailable") {
      this.lockedDataset(path, ds, name);
      return;
    }
    // mount.zfs (cmd/mount_zfs.c) refuses `zfsutil` on a legacy dataset and demands it otherwise:
    // the dataset's own property decides, not the fstab's options.
    const zfsutil = ds ? ds.mountpoint !== "legacy" : e.options.includes("zfsutil");
    const o = classifyOptions(e.options, "zfs");
    this.add({
      source: name,
      path,
      fstype: "zfs",
      options: this.options("zfs", zfsutil ? [...o.kept, "zfsutil"] : o.kept, path) as string[],
      method: "mount",
      origin: "fstab",
    });
  }

  private deviceLine(e: FstabEntry, path: string): void {
    const r = resolveSource(e.source, this.index, this.input.links, e.fstype);
    if (!r.ok) {
      this.refuse(path, e.source, r.reason);
      return;
    }
    if (r.note) this.note(r.note);
    const dev = r.device;
    const root = this.input.root.replace(/\/+$/, "") || "/";
    if (dev.mountpoints.some((m) => m !== root && !m.startsWith(`${root}/`))) {
      this.refuse(path, e.source, `${dev.path} is in use by the rescue system`);
      return;
    }
    // The type blkid reports decides, not the fstab's string (`auto` included).
    const type = dev.fstype;
    if (type === null || type === "") {
      if (this.input.readonly) {
        this.refuse(
          path,
          e.source,
          `blkid reports no filesystem type on ${dev.path}: a read-only mount could replay a journal`,
        );
        return;
      }
      if (e.fstype === "auto") {
        this.refuse(path, e.source, `no filesystem type known for ${dev.path}`);
        return;
      }
    }
    const fstype = type || e.fstype;
    if (type && e.fstype !== "auto" && e.fstype !== type)
      this.note(`${path}: fstab says ${e.fstype}, blkid reports ${type} on ${dev.path}: mounted as ${type}`);
    if (!isMountableType(fstype) && this.input.readonly) {
      this.refuse(
        path,
        e.source,
        `${fstype} on ${dev.path}: no read-only mount of it is known to write nothing`,
      );
      return;
    }
    if (
      fstype === "zfs_member" ||
      fstype === "crypto_LUKS" ||
      fstype === "swap" ||
      fstype === "LVM2_member"
    ) {
      this.refuse(path, e.source, `${dev.path} holds ${fstype}, not a filesystem`);
      return;
    }
    const o = classifyOptions(e.options, fstype);
    if (o.dropped.length > 0) this.note(`${path}: options not passed: ${o.dropped.join(",")}`);
    const options = this.options(fstype, o.kept, path);
    if (!options) {
      this.refuse(path, e.source, `${fstype}: no read-only mount of it is known to write nothing`);
      return;
    }
    this.add({ source: dev.path, path, fstype, options, method: "mount", origin: "fstab" });
  }

  // ── ZFS's own mounts ────────────────────────────────────────────────────────────────────────

  /** Datasets `zfs mount -a` (NixOS's zfs-mount.service) mounts: canmount=on with a mountpoint. */
  zfsMounts(): void {
    this.kindNow = "dataset";
    const pools = new Set(this.systemPools);
    for (const d of this.input.datasets) {
      if (!pools.has(d.pool) || d.canmount !== "on") continue;
      if (this.sources.has(d.name)) continue;
      const path = systemPathOf(d.mountpoint, this.altroots.get(d.pool) ?? null);
      if (path === null) continue;
      const clean = cleanTarget(path);
      if (clean === null) {
        this.refuse(path.slice(0, 100), d.name, "mountpoint is not a plain absolute path");
        continue;
      }
      if (d.keystatus === "unavailable") {
        this.lockedDataset(clean, d, d.name);
        continue;
      }
      if (this.paths.has(clean)) {
        this.note(
          `${d.name} (mountpoint ${clean}) is not mounted: ${clean} is mounted from ${this.drafts[this.paths.get(clean) as number]?.source}`,
        );
        continue;
      }
      this.add(
        {
          source: d.name,
          path: clean,
          fstype: "zfs",
          options: this.options(
            "zfs",
            ["zfsutil"],
            clean,
            this.input.readonly || this.poolReasons.get(d.pool)?.readonly === true,
          ) as string[],
          method: "mount",
          origin: "datasets",
        },
        false,
      );
    }
  }

  // ── without an fstab: the conventional layout ──────────────────────────────────────────────

  zfsConvention(pool: string): void {
    const chosen = this.input.chosen;
    const named = (n: string | null | undefined) => (n ? (this.datasets.get(n) ?? null) : null);
    const rootDs = named(chosen?.root) ?? rootDatasetOf(this.input.datasets, pool, this.altroots);
    const nixDs = named(chosen?.nix) ?? nixDatasetOf(this.input.datasets, pool, this.altroots);
    if (rootDs) this.addDataset(rootDs, "/");
    else if (nixDs) this.addTmpfsRoot(`no root dataset in ${pool}, but ${nixDs.name} holds /nix`);
    else
      this.note(
        `no dataset of ${pool} looks like a root filesystem (mountpoint=/ or a legacy …/root) or /nix`,
      );
    if (nixDs) this.addDataset(nixDs, "/nix");
    for (const role of ["home", "var"] as const) {
      let best: Dataset | null = null;
      for (const d of this.input.datasets)
        if (
          d.pool === pool &&
          d.mountpoint === "legacy" &&
          d.canmount !== "off" &&
          d.name.split("/").pop() === role
        )
          if (!best || d.name.length < best.name.length) best = d;
      if (best) this.addDataset(best, `/${role}`);
    }
  }

  private addDataset(d: Dataset, path: string): void {
    if (d.keystatus === "unavailable") {
      this.kindNow = "dataset";
      this.lockedDataset(path, d, d.name);
      return;
    }
    this.add({
      source: d.name,
      path,
      fstype: "zfs",
      options: this.options("zfs", d.mountpoint === "legacy" ? [] : ["zfsutil"], path) as string[],
      method: "mount",
      origin: "datasets",
    });
  }

  addTmpfsRoot(why: string): void {
    this.note(`/ is a tmpfs (${why}); its options come from the fstab once /nix is mounted`);
    this.add({
      source: "tmpfs",
      path: "/",
      fstype: "tmpfs",
      options: this.options("tmpfs", ["mode=755"], "/") as string[],
      method: "mount",
      origin: "tmpfs-root",
    });
  }

  blockConvention(c: Extract<Candidate, { kind: "block" }>): void {
    const layout = this.input.layout ?? { rootSubvol: null, tmpfsRoot: false, nixSubvol: null };
    const dev = this.index.byPath.get(c.device);
    const fstype = dev?.fstype ?? c.fstype;
    const sub = (s: string | null) => (s ? [`subvol=${s}`] : []);
    const mk = (path: string, kept: string[]) => {
      const options = this.options(fstype, kept, path);
      if (!options) {
        this.refuse(path, c.device, `${fstype}: no read-only mount of it is known to write nothing`);
        return;
      }
      this.add({ source: c.device, path, fstype, options, method: "mount", origin: "device" });
    };
    if (layout.tmpfsRoot) this.addTmpfsRoot(`${c.device} holds /nix only`);
    else mk("/", sub(layout.rootSubvol));
    if (layout.nixSubvol !== null) mk("/nix", sub(layout.nixSubvol || null));
  }

  espGuess(): void {
    const { devices } = this.input;
    const disks = diskOf(devices);
    const esps = findEsps(devices).filter((e) => e.evidence === "parttype");
    const near = esps.filter((e) => this.input.candidate.disks.includes(disks.get(e.device) ?? ""));
    const pick = near.length === 1 ? near[0] : esps.length === 1 ? esps[0] : undefined;
    if (pick) {
      const options = this.options("vfat", ["fmask=0022", "dmask=0022"], "/boot") as string[];
      this.add({
        source: pick.device,
        path: "/boot",
        fstype: "vfat",
        options,
        method: "mount",
        origin: "esp-guess",
      });
    } else if (esps.length > 1)
      this.note(
        `${esps.length} EFI system partitions found and none is on the system's disk: /boot is not mounted`,
      );
    else this.note("no EFI system partition found: /boot is not mounted");
  }

  // ── result ──────────────────────────────────────────────────────────────────────────────────

  steps(): PlanStep[] {
    const { ordered, parents, cyclic } = orderMounts(this.drafts);
    for (const c of cyclic)
      this.skip(
        c.path,
        c.unit ?? c.source,
        "bind mounts that depend on each other",
        c.unit ? "mount-unit" : "fstab",
      );
    const mounts: MountStep[] = new Array(ordered.length);
    for (let i = 0; i < ordered.length; i++) {
      const d = ordered[i] as Draft;
      mounts[i] = {
        kind: "mount",
        role: d.role ?? roleOf(d.path, d.fstype),
        source: d.source,
        target: joinRoot(this.input.root, d.path),
        path: d.path,
        fstype: d.fstype,
        options: d.options,
        method: d.method,
        origin: d.origin,
        ...(d.from !== undefined ? { from: d.from } : {}),
        parent: parents[i]?.path ?? null,
        ...(d.unit !== undefined ? { unit: d.unit } : {}),
      };
    }
    const imports: PlanStep[] = [];
    for (const pool of this.systemPools) {
      const p = this.pools.get(pool);
      if (!p || p.imported) continue;
      const r = this.poolReason(pool);
      imports.push({
        kind: "import-pool",
        pool,
        guid: p.guid,
        readonly: r.readonly,
        altroot: this.input.root,
        reason: r.reason,
        importedBecause: r.importedBecause,
      });
    }
    return [...imports, ...mounts];
  }
}
