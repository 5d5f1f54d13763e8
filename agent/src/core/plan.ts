import { type Candidate, diskOf, findEsps, rootDatasetOf } from "./candidates.js";
import { type BlockDevice, flattenDevices } from "./lsblk.js";
import type { FstabEntry } from "./mounts.js";
import type { Dataset } from "./zfs.js";

export type MountRole = "root" | "nix" | "home" | "var" | "esp" | "other";

export type PlanStep =
  | { kind: "import-pool"; pool: string; guid: string | null; readonly: boolean; altroot: string }
  | {
      kind: "mount";
      role: MountRole;
      /** Dataset name, or the live device path. */
      source: string;
      /** Absolute path on the live system (under the rescue root). */
      target: string;
      /** Path inside the installed system ("/", "/nix", "/boot"). */
      path: string;
      fstype: string;
      options: string[];
      /** `mount -t …` for legacy datasets and block devices, `zfs mount` for datasets with a mountpoint. */
      method: "mount" | "zfs-mount";
      origin: "fstab" | "datasets" | "esp-guess" | "device";
    };

export type MountStep = Extract<PlanStep, { kind: "mount" }>;

export interface MountPlan {
  candidate: string;
  readonly: boolean;
  root: string;
  /** Where the mount list came from. */
  source: "fstab" | "fallback";
  /** False while facts are missing (datasets before import, fstab before the root is mounted). */
  complete: boolean;
  steps: PlanStep[];
  notes: string[];
}

export interface PlanInput {
  root: string;
  candidate: Candidate;
  readonly: boolean;
  devices: BlockDevice[];
  /** Datasets of the candidate's pool; empty while it is not imported. */
  datasets: Dataset[];
  /** The installed system's fstab, null when not (yet) readable. */
  fstab: FstabEntry[] | null;
}

const SKIP_FSTYPES = new Set([
  "swap",
  "none",
  "tmpfs",
  "ramfs",
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
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
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "9p",
  "sshfs",
  "fuse",
  "virtiofs",
]);
const DROP_OPTIONS = /^(defaults|auto|noauto|nofail|_netdev|user|users|owner|group|rw|x-.*|comment=.*)$/;

export function joinRoot(root: string, path: string): string {
  const r = root.replace(/\/+$/, "");
  if (path === "/" || path === "") return r || "/";
  return `${r}/${path.replace(/^\/+/, "").replace(/\/+$/, "")}`;
}

export function roleOf(path: string, fstype: string): MountRole {
  if (path === "/") return "root";
  if (path === "/nix") return "nix";
  if (path === "/home") return "home";
  if (path === "/var") return "var";
  if ((path === "/boot" || path === "/efi" || path === "/boot/efi") && fstype === "vfat") return "esp";
  return "other";
}

/** Options for mounting without writing anything: no journal replay, no log replay. */
export function readonlyOptions(fstype: string): string[] {
  switch (fstype) {
    case "ext4":
    case "ext3":
      return ["ro", "noload"];
    case "xfs":
      return ["ro", "norecovery"];
    case "btrfs":
      return ["ro", "rescue=nologreplay"];
    default:
      return ["ro"];
  }
}

function mountOptions(fromFstab: string[], fstype: string, readonly: boolean): string[] {
  const kept = fromFstab.filter((o) => !DROP_OPTIONS.test(o) && o !== "ro");
  const ro = fromFstab.includes("ro");
  const extra = readonly ? readonlyOptions(fstype) : ro ? ["ro"] : [];
  return [...new Set([...extra, ...kept])];
}

/** Map an fstab device spec to a live device path, by UUID/LABEL/PARTUUID/PARTLABEL or path. */
export function resolveDeviceSpec(spec: string, devices: BlockDevice[]): string | null {
  const all = flattenDevices(devices);
  const by = (key: "uuid" | "label" | "partuuid" | "partlabel", v: string) =>
    all.find((d) => {
      const x = key === "partlabel" ? d.partlabel : d[key];
      return (
        x !== null && (key === "label" || key === "partlabel" ? x === v : x.toLowerCase() === v.toLowerCase())
      );
    })?.path ?? null;
  const m =
    /^(?:\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/|(UUID|LABEL|PARTUUID|PARTLABEL)=)(.+)$/.exec(spec);
  if (m) {
    const key = (m[1] ?? (m[2] as string).toLowerCase()) as "uuid" | "label" | "partuuid" | "partlabel";
    // udev escapes characters in by-label names as \xNN.
    const value = (m[3] as string).replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) =>
      String.fromCharCode(Number.parseInt(h, 16)),
    );
    return by(key, value);
  }
  if (spec.startsWith("/dev/")) return all.find((d) => d.path === spec)?.path ?? spec;
  return null;
}

/**
 * An absolute path inside the installed system, normalised (`//` and a trailing `/` folded), or
 * null when it is not absolute or has `.`/`..` segments: such a target could leave the root.
 */
export function cleanTarget(p: string): string | null {
  if (!p.startsWith("/") || p.includes("\0")) return null;
  const segs = p.split("/").filter(Boolean);
  if (segs.some((s) => s === "." || s === "..")) return null;
  return `/${segs.join("/")}`;
}

function depth(p: string): number {
  return p === "/" ? 0 : p.split("/").filter(Boolean).length;
}

function isZfsSource(e: FstabEntry): boolean {
  return e.fstype === "zfs";
}

/**
 * Build the ordered mount plan. Pure: fed detection facts and, once the root is mounted, the
 * installed system's own fstab; falls back to the conventional layout (legacy datasets named
 * root/nix/home/var, the ESP at /boot) when the fstab is not available.
 */
export function planMount(input: PlanInput): MountPlan {
  const { root, candidate, readonly, devices } = input;
  const notes: string[] = [];
  const steps: PlanStep[] = [];
  const mounts: MountStep[] = [];
  let complete = true;

  if (candidate.kind === "zfs" && !candidate.imported) {
    steps.push({ kind: "import-pool", pool: candidate.pool, guid: candidate.guid, readonly, altroot: root });
  }

  const push = (s: Omit<MountStep, "kind" | "target" | "role"> & { role?: MountRole }) => {
    const path = cleanTarget(s.path);
    if (path === null) {
      notes.push(
        `skipped ${JSON.stringify(s.path.slice(0, 100))} for ${s.source}: not a plain absolute path inside the system`,
      );
      return;
    }
    if (mounts.some((m) => m.path === path)) return;
    mounts.push({
      kind: "mount",
      ...s,
      path,
      role: s.role ?? roleOf(path, s.fstype),
      target: joinRoot(root, path),
    });
  };

  if (input.fstab) {
    for (const e of input.fstab) {
      if (SKIP_FSTYPES.has(e.fstype) || e.options.includes("bind") || e.options.includes("noauto")) continue;
      if (isZfsSource(e)) {
        const pool = e.source.split("/")[0];
        if (candidate.kind === "zfs" && pool !== candidate.pool) {
          notes.push(`fstab mounts ${e.source} from another pool (${pool}) at ${e.target}: left alone`);
          continue;
        }
        push({
          source: e.source,
          path: e.target,
          fstype: "zfs",
          options: mountOptions(e.options, "zfs", readonly),
          method: "mount",
          origin: "fstab",
        });
        continue;
      }
      const dev = resolveDeviceSpec(e.source, devices);
      if (!dev) {
        if (e.target === "/" || e.target === "/nix") {
          notes.push(`fstab's ${e.target} device ${e.source} was not found on this machine`);
          complete = false;
        } else notes.push(`skipped ${e.target}: device ${e.source} not found on this machine`);
        continue;
      }
      push({
        source: dev,
        path: e.target,
        fstype: e.fstype,
        options: mountOptions(e.options, e.fstype, readonly),
        method: "mount",
        origin: "fstab",
      });
    }
  } else {
    complete = false;
    notes.push(
      "the installed system's fstab is read once its root is mounted; until then the conventional layout is assumed",
    );
  }

  // Datasets the fstab does not mention: the root (fallback), legacy nix/home/var (fallback), and
  // datasets with their own mountpoint (mounted by zfs-mount.service on the real system).
  if (candidate.kind === "zfs") {
    if (input.datasets.length === 0 && !input.fstab) {
      notes.push(`datasets of ${candidate.pool} are listed after the pool is imported`);
    } else {
      const rootDs = rootDatasetOf(input.datasets, candidate.pool);
      if (!input.fstab) {
        if (rootDs)
          push({
            source: rootDs.name,
            path: "/",
            fstype: "zfs",
            // A dataset with mountpoint=/ (not legacy) needs zfsutil to be mounted by mount(8).
            options: mountOptions(rootDs.mountpoint === "legacy" ? [] : ["zfsutil"], "zfs", readonly),
            method: "mount",
            origin: "datasets",
          });
        else
          notes.push(
            `no dataset of ${candidate.pool} looks like a root filesystem (mountpoint=/ or a legacy …/root)`,
          );
        for (const role of ["nix", "home", "var"] as const) {
          const ds = input.datasets
            .filter(
              (d) =>
                d.pool === candidate.pool &&
                d.mountpoint === "legacy" &&
                d.name.split("/").pop() === role &&
                d.canmount !== "off",
            )
            .sort((a, b) => a.name.length - b.name.length)[0];
          if (ds)
            push({
              source: ds.name,
              path: `/${role}`,
              fstype: "zfs",
              options: mountOptions([], "zfs", readonly),
              method: "mount",
              origin: "datasets",
            });
        }
      }
      for (const d of input.datasets) {
        if (d.pool !== candidate.pool || d.canmount !== "on") continue;
        if (d.mountpoint === "legacy" || d.mountpoint === "none" || d.mountpoint === "-") continue;
        if (d.name === rootDs?.name && mounts.some((m) => m.path === "/")) continue;
        // With `-R root` zfs shows mountpoints with the altroot prefixed.
        const path =
          d.mountpoint === root
            ? "/"
            : d.mountpoint.startsWith(`${root}/`)
              ? d.mountpoint.slice(root.length)
              : d.mountpoint;
        if (mounts.some((m) => m.source === d.name)) continue;
        push({
          source: d.name,
          path,
          fstype: "zfs",
          options: readonly ? ["ro"] : [],
          method: "zfs-mount",
          origin: "datasets",
        });
      }
    }
  } else if (!input.fstab) {
    push({
      source: candidate.device,
      path: "/",
      fstype: candidate.fstype,
      options: mountOptions([], candidate.fstype, readonly),
      method: "mount",
      origin: "device",
    });
  }

  if (!mounts.some((m) => m.role === "esp") && !input.fstab) {
    const disks = diskOf(devices);
    const esps = findEsps(devices).filter((e) => e.evidence === "parttype");
    const near = esps.filter((e) => candidate.disks.includes(disks.get(e.device) ?? ""));
    const pick = near.length === 1 ? near[0] : esps.length === 1 ? esps[0] : undefined;
    if (pick)
      push({
        source: pick.device,
        path: "/boot",
        fstype: "vfat",
        options: mountOptions(["fmask=0022", "dmask=0022"], "vfat", readonly),
        method: "mount",
        origin: "esp-guess",
      });
    else if (esps.length > 1)
      notes.push(
        `${esps.length} EFI system partitions found and none is on the system's disk: /boot is not mounted`,
      );
    else notes.push("no EFI system partition found: /boot is not mounted");
  }

  if (!mounts.some((m) => m.path === "/")) complete = false;
  mounts.sort((a, b) => depth(a.path) - depth(b.path));
  return {
    candidate: candidate.id,
    readonly,
    root,
    source: input.fstab ? "fstab" : "fallback",
    complete,
    steps: [...steps, ...mounts],
    notes,
  };
}
