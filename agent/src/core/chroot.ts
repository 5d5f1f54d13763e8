/**
 * Commands that run INSIDE the installed system, through `nixos-enter` (pure: builds argv, runs nothing).
 *
 * What the real `nixos-enter` does (nixpkgs pkgs/by-name/ni/nixos-enter/nixos-enter.sh, nixos-25.11;
 * modelled by test/vm/guest/nixos-enter.sh): it re-executes itself in private mount/PID namespaces,
 * bind-mounts /dev and /sys into the root, binds the rescue side's /etc/resolv.conf over the target's
 * (following a symlink), runs the target's `$system/activate` (with IN_NIXOS_ENTER=1) and
 * `systemd-tmpfiles --create --remove -E`, then `exec chroot "$root" "${command[@]}"` with the
 * CALLER's environment. So a bare `nixos-rebuild` is looked up in the rescue side's PATH — store paths
 * the installed system does not have — and exits 127. `-c CMD` is `$system/sw/bin/bash -c CMD`: not a
 * login shell either, so it has the same PATH problem.
 *
 * Here the command runs under the installed system's own shell with the environment its own login
 * shells get: PATH first set to the system profile's tools (so something works even without a
 * readable /etc/profile), then /etc/profile (NixOS: set-environment: PATH with /run/current-system/sw/bin
 * and /run/wrappers/bin, NIX_PATH with nixos-config for channel-based systems, LOCALE_ARCHIVE). The
 * shell program is a constant; the command and its arguments are passed as positional parameters
 * (`exec "$@"`), never interpolated into shell text.
 *
 * Name resolution: nixos-enter binds the rescue side's resolv.conf over the target's, following ONE
 * symlink level from the rescue side. A system with systemd-resolved has a chain
 * (`/etc/resolv.conf -> /etc/static/resolv.conf -> /nix/store/…-etc/etc/resolv.conf ->
 * /run/systemd/resolve/stub-resolv.conf`, nixpkgs nixos/modules/system/boot/resolved.nix); the
 * second link is absolute into the target's store, which does not exist on the rescue side, so the
 * bind fails ("failed to set up resolv.conf") and inside the chroot the chain ends in the fresh tmpfs
 * /run of the activation (nixos/modules/tasks/filesystems.nix, boot.specialFileSystems): no DNS, so
 * `nixos-rebuild` cannot reach a substituter. The program therefore writes the rescue side's
 * resolver lines where the chain ends when, and only when, /etc/resolv.conf is missing or empty
 * inside the chroot, the chain (followed link by link INSIDE the chroot, at most 16, no `..`) ends
 * under /run, and /run is a tmpfs (read from the chroot's /proc/self/mounts): nothing is written
 * to the installed system's disk, and nothing outside the chroot can be reached.
 */

/** The installed system's profile, as nixos-enter's default `--system`. */
export const SYSTEM_PROFILE = "/nix/var/nix/profiles/system";

/** POSIX sh of the installed system (bash's `sh` in its system-path). */
export const TARGET_SHELL = `${SYSTEM_PROFILE}/sw/bin/sh`;

/**
 * Constant program for TARGET_SHELL. The `__…_DONE` guards are unset because the agent's own
 * environment may come from a NixOS login shell on the rescue side, which would make the target's
 * /etc/profile return early without setting its PATH and NIX_PATH.
 */
export const TARGET_SHELL_PROGRAM = [
  "unset __ETC_PROFILE_DONE __NIXOS_SET_ENVIRONMENT_DONE;",
  `PATH=/run/wrappers/bin:${SYSTEM_PROFILE}/sw/bin;`,
  "export PATH;",
  // $1: the rescue side's resolver lines joined by a literal \n (resolverLines), then the command.
  "lb_r=$1; shift;",
  'if [ -n "$lb_r" ] && [ ! -s /etc/resolv.conf ]; then',
  // Follow the chain link by link (readlink -f refuses a chain whose end's directory is missing).
  "lb_t=/etc/resolv.conf lb_i=0;",
  'while [ -L "$lb_t" ] && [ "$lb_i" -lt 16 ]; do',
  'lb_l=$(readlink "$lb_t") || break;',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  "case $lb_l in /*) lb_t=$lb_l ;; *) lb_t=${lb_t%/*}/$lb_l ;; esac;",
  "lb_i=$((lb_i + 1));",
  "done;",
  "lb_tmpfs=;",
  'while read -r _ lb_m lb_fs _; do if [ "$lb_m" = /run ]; then if [ "$lb_fs" = tmpfs ]; then lb_tmpfs=1; else lb_tmpfs=; fi; fi; done </proc/self/mounts;',
  "case $lb_t in */../* | */./* | */.. | *//*) lb_t= ;; esac;",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'case $lb_t in /run/?*) if [ -n "$lb_tmpfs" ] && [ ! -L "$lb_t" ]; then mkdir -p "${lb_t%/*}" && printf \'%b\\n\' "$lb_r" >"$lb_t"; fi ;; esac;',
  "fi;",
  "unset lb_r lb_t lb_i lb_l lb_tmpfs lb_m lb_fs;",
  "if [ -r /etc/profile ]; then . /etc/profile; fi;",
  'exec "$@"',
].join(" ");

/** `$0` of that shell: shows up in its error messages. */
export const TARGET_SHELL_NAME = "lifeboat-in-target";

/** The command the agent runs on the rescue side: nixos-enter, from the agent's PATH. */
export const NIXOS_ENTER = "nixos-enter";

export interface Command {
  file: string;
  args: string[];
}

function assertAbsolute(root: string): void {
  if (!root.startsWith("/") || root.includes("\0") || root.split("/").includes(".."))
    throw new Error(`not an absolute root: ${JSON.stringify(root)}`);
}

/**
 * argv that runs `command` (argv[0] resolved inside the installed system) in the system mounted at
 * `root`, the way an operator would after `nixos-enter --root <root>`.
 */
export function inTarget(root: string, command: readonly string[], resolver = ""): Command {
  assertAbsolute(root);
  if (command.length === 0 || command[0] === "") throw new Error("empty command");
  if (command.some((a) => a.includes("\0"))) throw new Error("NUL in an argument");
  return {
    file: NIXOS_ENTER,
    args: [
      "--root",
      root,
      "--",
      TARGET_SHELL,
      "-c",
      TARGET_SHELL_PROGRAM,
      TARGET_SHELL_NAME,
      resolverLines(resolver),
      ...command,
    ],
  };
}

const RESOLVER_LINE = /^(nameserver|search|domain|options)[ \t]+[A-Za-z0-9.:%_ \t-]{1,250}$/;

/**
 * The lines of a resolv.conf (resolv.conf(5)) worth carrying into the installed system: nameserver,
 * search, domain and options with plain values, at most 16; comments and anything else dropped.
 * Joined by a literal `\n` (one argument, one line in a job's log), which the program's `printf %b`
 * turns back into newlines; the kept lines hold no backslash.
 */
export function resolverLines(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => RESOLVER_LINE.test(l))
    .slice(0, 16)
    .join("\\n");
}

export interface RebuildOptions {
  action: "boot" | "build";
  flake?: string;
  extraArgs?: readonly string[];
}

/**
 * `nixos-rebuild` of the installed system. Nix's build sandbox needs namespaces and mounts the
 * chroot of a live system does not provide: `--option sandbox false`.
 */
export function rebuildCommand(o: RebuildOptions): string[] {
  return [
    "nixos-rebuild",
    o.action,
    "--option",
    "sandbox",
    "false",
    ...(o.flake ? ["--flake", o.flake] : []),
    ...(o.extraArgs ?? []),
  ];
}

/** Make generation `n` the system profile's current one, then install its boot entries. */
export function profileSwitchCommands(generation: number): {
  switchProfile: string[];
  installBoot: string[];
} {
  if (!Number.isSafeInteger(generation) || generation < 1) throw new Error(`bad generation ${generation}`);
  return {
    switchProfile: ["nix-env", "-p", SYSTEM_PROFILE, "--switch-generation", String(generation)],
    installBoot: [`${SYSTEM_PROFILE}/bin/switch-to-configuration`, "boot"],
  };
}

/**
 * The command as an operator would type it: an `inTarget` wrapper (nixos-enter, the target's shell,
 * its program and the resolver lines: ~900 characters) shown as `nixos-enter --root /mnt -- <command>`;
 * anything else as it is.
 */
export function shownCommand(c: Command): string[] {
  const a = c.args;
  if (
    c.file === NIXOS_ENTER &&
    a[0] === "--root" &&
    a[2] === "--" &&
    a[3] === TARGET_SHELL &&
    a[4] === "-c" &&
    a[5] === TARGET_SHELL_PROGRAM &&
    a[6] === TARGET_SHELL_NAME &&
    a.length > 8
  )
    return ["nixos-enter", "--root", a[1] as string, "--", ...a.slice(8)];
  return [c.file, ...a];
}
