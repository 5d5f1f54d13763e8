import { realpathSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The jail: how a program that reads the installed system's data is run (the one door for programs
 * on disk data, as system/rootfs.ts is the one door for the agent's own reads). The disk may be
 * hostile; the program takes instructions from it (git config, journal file links, …), so it runs:
 *
 * - under bubblewrap (what Flatpak runs every app in; on the ISO and in the lab): new network, PID,
 *   IPC, UTS (and cgroup) namespaces, `--die-with-parent` (the PID namespace's init dies with the
 *   agent, and with it every process of the jail), `--new-session` (no TIOCSTI into a terminal);
 * - in a private mount namespace that holds, read-only and nodev/nosuid, only the system's program
 *   directories (/usr, /bin…/lib64 or their links, /nix/store) plus /etc/ld.so.cache, a fresh /proc
 *   and a minimal /dev, and the ONE directory of disk data the caller resolved through the door
 *   (bound at the same path). Never /root, the token, /run/lifeboat, the rescue side's journal, the
 *   rest of /mnt;
 * - as an unprivileged user: bwrap runs as root without a user namespace (a user namespace created
 *   by root maps the sandbox user to uid 0), so `setpriv` inside it switches to uid/gid 65534
 *   (`nobody`, also on NixOS), clears the supplementary groups (or keeps exactly the one group that
 *   owns the data, e.g. systemd-journal for journal files, which are 0640), empties the inheritable
 *   and bounding capability sets and sets no_new_privs (setuid binaries gain nothing);
 * - with limits (`prlimit`): address space, CPU seconds, file size 0 (nothing can be written; the
 *   mounts are read-only anyway), processes, no core dumps; a deadline after which the whole jail is
 *   killed (SIGKILL to bwrap; its PID namespace dies with it) and an output cap.
 *
 * No fallback: without bwrap (or setpriv/prlimit) the program is not run and the caller gets a
 * refusal that says why (exit 126).
 */

export interface JailProfile {
  /** RLIMIT_AS, bytes. */
  memoryBytes: number;
  /** RLIMIT_CPU, seconds. */
  cpuSeconds: number;
  /** RLIMIT_NPROC (counted per uid: 65534 on the whole machine). */
  processes: number;
  /** The whole jail is killed after this long. */
  deadlineMs: number;
  /** stdout + stderr kept; more is cut, the jail is killed and the result says so. */
  maxOutputBytes: number;
}

const MiB = 1024 * 1024;

/** Limits per kind of program (agent-commands.json names the profile of every jailed command). */
export const JAIL_PROFILES = {
  /** journalctl -D: mmaps journal files (bounded windows); one query per run. */
  journal: {
    memoryBytes: 2048 * MiB,
    cpuSeconds: 60,
    processes: 64,
    deadlineMs: 60_000,
    maxOutputBytes: 64 * MiB,
  },
  /** git log/rev-list/diff on /etc/nixos/.git (pack windows capped by gitInvocation). */
  git: {
    memoryBytes: 1024 * MiB,
    cpuSeconds: 30,
    processes: 64,
    deadlineMs: 20_000,
    maxOutputBytes: 8 * MiB,
  },
} as const satisfies Record<string, JailProfile>;

export type JailProfileName = keyof typeof JAIL_PROFILES;

/**
 * The unprivileged user and group jailed programs run as: nobody/nogroup on Debian, and on NixOS
 * (nixos/modules/misc/ids.nix: ids.uids.nobody = 65534, ids.gids.nogroup = 65534). Numeric: setpriv
 * needs no passwd entry, and none is bound into the jail.
 */
export const JAIL_UID = 65534;
export const JAIL_GID = 65534;

export interface JailOptions {
  /** Host directory of disk data (resolved through system/rootfs.ts), bound read-only at the same path. */
  data: string;
  /** The group owning the data on the disk, kept as the only supplementary group (never needed otherwise). */
  group?: number;
  /** The program's environment (nothing of the agent's is passed on). */
  env?: Record<string, string>;
  /** Lower limits than the profile's (a value above the profile's is ignored). */
  limits?: Partial<JailProfile>;
  /** Aborting it kills the whole jail (SIGKILL to bwrap; its PID namespace dies with it). */
  signal?: AbortSignal;
}

/** The profile's limits, lowered by `opts.limits` (never raised). */
export function limitsOf(profile: JailProfileName, opts: JailOptions): JailProfile {
  const p: JailProfile = JAIL_PROFILES[profile];
  const o = opts.limits ?? {};
  const low = (k: keyof JailProfile) => Math.min(p[k], o[k] ?? p[k]);
  return {
    memoryBytes: low("memoryBytes"),
    cpuSeconds: low("cpuSeconds"),
    processes: low("processes"),
    deadlineMs: low("deadlineMs"),
    maxOutputBytes: low("maxOutputBytes"),
  };
}

/** Where the jail's tools and the program live on this machine (absolute, links resolved). */
export interface JailTools {
  bwrap: string;
  setpriv: string;
  prlimit: string;
  program: string;
}

/** Directories of the rescue system bound read-only (programs and their libraries); links are recreated. */
export const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/nix/store"];
const SYSTEM_FILES = ["/etc/ld.so.cache"];

export class JailRefused extends Error {}

/** The programs the jail is made of (on the agent's PATH: iso/agent-commands.json lists them). */
export const JAIL_TOOLS = ["bwrap", "setpriv", "prlimit"] as const;

/** The first executable `name` on `path`, links resolved; null when none. */
export function which(name: string, path = process.env.PATH ?? ""): string | null {
  if (name.includes("/")) return executable(name);
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const found = executable(join(dir, name));
    if (found) return found;
  }
  return null;
}

function executable(p: string): string | null {
  try {
    const real = realpathSync(p);
    const st = statSync(real);
    return st.isFile() && (st.mode & 0o111) !== 0 ? real : null;
  } catch {
    return null;
  }
}

/** How each system directory appears on this machine: a directory to bind, a link to recreate, or absent. */
export function systemLayout(): { path: string; link: string | null }[] {
  const out: { path: string; link: string | null }[] = [];
  for (const d of SYSTEM_DIRS) {
    try {
      const real = realpathSync(d);
      if (real === d) out.push({ path: d, link: null });
      else if (SYSTEM_DIRS.some((s) => real === s || real.startsWith(`${s}/`)))
        out.push({ path: d, link: real });
    } catch {
      // absent here
    }
  }
  return out;
}

/**
 * The bwrap command line for `program args` on `data`. Pure (given the tools and the layout): the
 * jail test and the inventory read it. Throws JailRefused when something would not be confined.
 */
export function jailArgv(
  tools: JailTools,
  layout: { path: string; link: string | null }[],
  profile: JailProfile,
  args: readonly string[],
  opts: JailOptions,
): string[] {
  const bound = layout.filter((l) => l.link === null).map((l) => l.path);
  const inside = (p: string) => bound.some((b) => p === b || p.startsWith(`${b}/`));
  for (const t of [tools.setpriv, tools.prlimit, tools.program])
    if (!inside(t))
      throw new JailRefused(`${t} is outside the jail's system directories (${bound.join(", ")})`);
  if (!opts.data.startsWith("/") || opts.data.split("/").some((c) => c === ".." || c === "."))
    throw new JailRefused(`the data directory ${opts.data} is not an absolute canonical path`);
  if (opts.data === "/" || inside(opts.data) || /^\/(?:proc|dev)(?:\/|$)/.test(opts.data))
    throw new JailRefused(`the data directory ${opts.data} would shadow the jail's own directories`);
  const argv = [
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
  ];
  for (const l of layout)
    argv.push(...(l.link === null ? ["--ro-bind", l.path, l.path] : ["--symlink", l.link, l.path]));
  for (const f of SYSTEM_FILES) argv.push("--ro-bind-try", f, f);
  argv.push("--proc", "/proc", "--dev", "/dev");
  // The directories on the way to the data, made 0755 (bwrap makes missing parents of a bind 0700,
  // which nobody could not cross); they hold nothing else.
  const parts = opts.data.split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) argv.push("--dir", `/${parts.slice(0, i).join("/")}`);
  argv.push("--ro-bind", opts.data, opts.data, "--chdir", "/");
  const group =
    opts.group !== undefined && Number.isInteger(opts.group) && opts.group >= 0 ? opts.group : null;
  argv.push(
    "--",
    tools.prlimit,
    `--as=${profile.memoryBytes}`,
    `--cpu=${profile.cpuSeconds}`,
    "--fsize=0",
    `--nproc=${profile.processes}`,
    "--core=0",
    "--",
    tools.setpriv,
    `--reuid=${JAIL_UID}`,
    `--regid=${JAIL_GID}`,
    ...(group === null ? ["--clear-groups"] : [`--groups=${group}`]),
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
    tools.program,
    ...args,
  );
  return argv;
}

/** The tools on this machine's PATH, or why the jail cannot run. */
export function findTools(program: string): JailTools | { missing: string } {
  const found: Partial<JailTools> = {};
  for (const name of JAIL_TOOLS) {
    const p = which(name);
    if (!p) return { missing: name };
    found[name] = p;
  }
  const p = which(program);
  if (!p) return { missing: program };
  return { ...(found as Omit<JailTools, "program">), program: p };
}
