/**
 * A console capture of a failed boot (pasted, or a serial log), read as data for the stage-1
 * failures of the diagnosis catalog. Stage 1 writes no journal: what the console showed is the only
 * word from it. The text is hostile input: it is only matched against the fixed messages below,
 * and only the matching lines (cut to 200 characters) are ever given back, never the rest (a
 * console can show anything, a password typed at a prompt included).
 *
 * The messages are the programs' own: nixpkgs nixos/modules/system/boot/stage-1-init.sh
 * ("<<< NixOS Stage 1 >>>", `loading module $(basename $i)...`, `waiting for device $device to
 * appear...`, "Timed out waiting for device $device, trying to mount anyway.", "An error occurred in
 * stage 1 of the boot process"), nixos/modules/tasks/filesystems/zfs.nix (`importing root ZFS pool
 * "$pool"...`), OpenZFS cmd/zpool/zpool_main.c ("cannot import '%s': pool was previously in use from
 * another system.", "Last accessed by %s (hostid=%lx) at %s", "no such pool available"), kmod's
 * modprobe ("modprobe: FATAL: Module %s not found in directory %s"), the kernel (panic.c "Kernel
 * panic - not syncing: ", hung_task.c "INFO: task %s:%d blocked for more than %ld seconds.",
 * watchdog.c "BUG: soft lockup - CPU#%d stuck for %us!", the command line "Kernel command line: ")
 * and systemd's emergency shell ("You are in emergency mode.", sulogin's "Give root password for
 * maintenance").
 */

export const MAX_CONSOLE_BYTES = 1024 * 1024;
const MAX_LINES = 50_000;
const MAX_LINE = 4096;
const SHOWN = 200;

export type ConsoleKind =
  | "stage1-start"
  | "module-loading"
  | "kernel-stop"
  | "device-wait"
  | "device-timeout"
  | "pool-import"
  | "pool-in-use"
  | "pool-last-host"
  | "no-such-pool"
  | "module-not-found"
  | "stage1-error"
  | "emergency-shell"
  | "command-line";

export interface ConsoleLine {
  /** 1-based line number in the capture. */
  line: number;
  kind: ConsoleKind;
  /** The line as the console showed it (timestamps and control characters removed), cut to 200 characters. */
  text: string;
  /** What it names: the module, the device, the pool, the init= toplevel. */
  subject: string | null;
}

export interface ConsoleFacts {
  /** Lines in the capture. */
  lines: number;
  /** The lines that say something the diagnosis reads, in order. */
  found: ConsoleLine[];
  /** The generation's toplevel from the kernel command line's init=, when the capture shows it. */
  toplevel: string | null;
  /** The module stage 1 was loading when the console stopped or the kernel hung/panicked. */
  stuckModule: string | null;
  truncated: boolean;
}

const RULES: { kind: ConsoleKind; re: RegExp }[] = [
  { kind: "stage1-start", re: /^<<< NixOS Stage 1 >>>$/ },
  { kind: "module-loading", re: /^loading module (\S+?)\.\.\.$/ },
  { kind: "device-timeout", re: /^Timed out waiting for device (\S+), trying to mount anyway\.$/ },
  { kind: "device-wait", re: /^waiting for device (\S+) to appear\.\.\.\.*$/ },
  { kind: "pool-import", re: /^importing root ZFS pool "([^"]+)"\.\.\.\.*/ },
  {
    kind: "pool-in-use",
    re: /cannot import '([^']+)': pool (?:was previously in use from another system|may be in use from other system)/,
  },
  { kind: "pool-last-host", re: /^Last accessed by (\S+ \(hostid=[0-9a-fA-Fx]+\))/ },
  { kind: "no-such-pool", re: /cannot import '([^']+)': no such pool available/ },
  { kind: "module-not-found", re: /modprobe: FATAL: Module (\S+) not found/ },
  {
    kind: "kernel-stop",
    re: /^(?:\w+: )?(?:Kernel panic - not syncing: (.*)|INFO: task (\S+) blocked for more than \d+ seconds\.|BUG: soft lockup - CPU#\d+ stuck for \d+s! \[(\S+)\]|INFO: rcu_\w+ (?:self-)?detected stalls? on CPUs?)/,
  },
  { kind: "stage1-error", re: /^An error occurred in stage 1 of the boot process/ },
  {
    kind: "emergency-shell",
    re: /^(?:You are in emergency mode\.|Give root password for maintenance|Cannot open access to console, the root account is locked\.)/,
  },
  { kind: "command-line", re: /^(?:Kernel )?[Cc]ommand line: (.*)$/ },
];

/** A console line as the capture has it: CRs, ANSI sequences, the kernel's "[   1.234567] " prefix gone. */
function clean(raw: string): string {
  return (
    raw
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences and control characters are what is removed
      .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[@-_]|[\u0000-\u0008\u000b-\u001f\u007f]/g, "")
      .replace(/^\s*(?:<\d>)?\[\s*\d+\.\d+\]\s?/, "")
      .trim()
  );
}

/** Read a console capture. Never throws on what it holds. */
export function parseConsole(text: string): ConsoleFacts {
  const truncated = text.length > MAX_CONSOLE_BYTES;
  const all = (truncated ? text.slice(0, MAX_CONSOLE_BYTES) : text).split(/\r?\n|\r(?!\n)/);
  const lines = all.slice(0, MAX_LINES);
  const found: ConsoleLine[] = [];
  let toplevel: string | null = null;
  let loading: string | null = null;
  let stuck: string | null = null;
  let lastMeaningful = "";
  for (let i = 0; i < lines.length; i++) {
    const line = clean((lines[i] as string).slice(0, MAX_LINE));
    if (line === "") continue;
    lastMeaningful = line;
    for (const r of RULES) {
      const m = r.re.exec(line);
      if (!m) continue;
      let subject = m.slice(1).find((x) => x !== undefined) ?? null;
      if (r.kind === "command-line") {
        toplevel =
          /(?:^|\s)init=(\/nix\/store\/[0-9a-z]{32}-[^/\s]+)\/init(?:\s|$)/.exec(subject ?? "")?.[1] ??
          toplevel;
        subject = toplevel;
        // the rest of the command line is not given back (it can hold anything)
        if (!toplevel) break;
        found.push({ line: i + 1, kind: r.kind, text: `command line: init=${toplevel}/init`, subject });
        break;
      }
      if (r.kind === "module-loading") loading = subject;
      if (r.kind === "kernel-stop" && loading) stuck = loading;
      if (r.kind === "kernel-stop") subject = loading;
      found.push({ line: i + 1, kind: r.kind, text: line.slice(0, SHOWN), subject });
      break;
    }
  }
  // the console ends while stage 1 loads a module: that module hangs
  if (!stuck && loading && /^loading module /.test(lastMeaningful)) stuck = loading;
  return {
    lines: lines.length,
    found: found.slice(0, 200),
    toplevel,
    stuckModule: stuck,
    truncated: truncated || all.length > MAX_LINES,
  };
}
