import { journalObjects } from "./journal.js";

/**
 * How far a boot got, from the installed system's journal. The message ids are systemd's
 * (src/systemd/sd-messages.h); PID 1 logs them with `UNIT=` (job results), journald with its own.
 */
export const MESSAGE_ID = {
  startupFinished: "b07a249cd024414a82dd00cd181378ff",
  unitStarted: "39f53479d3a045ac8e11786248231fbf",
  unitStopping: "de5b426a63be47a7b6ac3eaac82e2f6f",
  /** "Failed to start X" (a start job that failed). */
  unitFailed: "be02cf6855d2428ba40df7e9d022f03d",
  /** "X: Failed with result 'exit-code'". */
  unitFailureResult: "d9b373ed55a64feb8242e02dbe79a49c",
  /** logind: "System is powering down / rebooting". */
  shutdown: "98268866d1d54a499c4e98921d93bc40",
  journalStop: "d93fb3c9c24d451a97cea615ce59c00b",
} as const;

const SHUTDOWN_TARGETS = [
  "shutdown.target",
  "reboot.target",
  "poweroff.target",
  "halt.target",
  "kexec.target",
];

/**
 * journalctl match arguments for a boot's milestones: startup finished, multi-user and shutdown
 * targets reached, logind's shutdown message, journald leaving /var (on shutdown) or stopping.
 * Matches on one field are OR-ed, fields AND-ed, and `+` separates alternatives (journalctl(1)).
 */
export function milestoneMatches(): string[] {
  return [
    `MESSAGE_ID=${MESSAGE_ID.startupFinished}`,
    `MESSAGE_ID=${MESSAGE_ID.shutdown}`,
    `MESSAGE_ID=${MESSAGE_ID.journalStop}`,
    "+",
    `MESSAGE_ID=${MESSAGE_ID.unitStarted}`,
    "UNIT=multi-user.target",
    ...SHUTDOWN_TARGETS.map((t) => `UNIT=${t}`),
    "+",
    `MESSAGE_ID=${MESSAGE_ID.unitStopping}`,
    "UNIT=systemd-journal-flush.service",
  ];
}

export function failureMatches(): string[] {
  return [`MESSAGE_ID=${MESSAGE_ID.unitFailed}`, `MESSAGE_ID=${MESSAGE_ID.unitFailureResult}`];
}

export interface JournalRecord {
  cursor: string;
  time: string | null;
  bootId: string | null;
  priority: number | null;
  messageId: string | null;
  unit: string | null;
  transport: string | null;
  identifier: string | null;
  message: string;
}

function field(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length <= 65_536 && v.every((x) => typeof x === "number"))
    return Buffer.from(v as number[]).toString("utf8");
  return null;
}

function usToIso(v: string | null): string | null {
  if (v === null || !/^\d{1,17}$/.test(v)) return null;
  const ms = Math.floor(Number(v) / 1000);
  return ms <= 8.64e15 ? new Date(ms).toISOString() : null;
}

/** `journalctl -o json` lines, with the fields the diagnosis needs. */
export function parseJournalRecords(text: string): JournalRecord[] {
  return journalObjects(text).map((e) => {
    const prio = field(e.PRIORITY);
    return {
      cursor: e.__CURSOR,
      time: usToIso(field(e.__REALTIME_TIMESTAMP)),
      bootId: field(e._BOOT_ID),
      priority: prio !== null && /^[0-7]$/.test(prio) ? Number(prio) : null,
      messageId: field(e.MESSAGE_ID),
      unit: field(e.UNIT) ?? field(e._SYSTEMD_UNIT),
      transport: field(e._TRANSPORT),
      identifier: field(e.SYSLOG_IDENTIFIER),
      message: field(e.MESSAGE) ?? "",
    };
  });
}

export interface Located<T> {
  value: T;
  cursor: string;
  time: string | null;
}

/** The kernel's own "Command line: …" (x86 setup_arch) or "Kernel command line: …" message. */
export function findCommandLine(records: JournalRecord[]): Located<string> | null {
  for (const r of records) {
    if (r.transport !== null && r.transport !== "kernel") continue;
    const m = /^(?:Kernel )?[Cc]ommand line: (.*)$/.exec(r.message);
    if (m) return { value: (m[1] as string).trim(), cursor: r.cursor, time: r.time };
  }
  return null;
}

/** `init=/nix/store/<hash>-nixos-system-<host>-<version>/init` → the toplevel it boots (last init= wins, as in the kernel). */
export function initOf(cmdline: string): { init: string; toplevel: string | null } | null {
  let init: string | null = null;
  for (const w of cmdline.split(/\s+/)) if (w.startsWith("init=")) init = w.slice(5);
  if (!init) return null;
  const m = /^(\/nix\/store\/[0-9a-z]{32}-[^/]+)\/init$/.exec(init);
  return { init, toplevel: m ? (m[1] as string) : null };
}

export interface BootMilestones {
  multiUser: Located<string> | null;
  startupFinished: Located<string> | null;
  /** The first sign of an orderly shutdown (null: the journal just stops). */
  shutdown: Located<string> | null;
}

export function milestones(records: JournalRecord[]): BootMilestones {
  const at = (r: JournalRecord): Located<string> => ({ value: r.message, cursor: r.cursor, time: r.time });
  let multiUser: Located<string> | null = null;
  let startupFinished: Located<string> | null = null;
  let shutdown: Located<string> | null = null;
  for (const r of records) {
    const id = r.messageId;
    if (id === MESSAGE_ID.startupFinished) startupFinished ??= at(r);
    else if (id === MESSAGE_ID.unitStarted && r.unit === "multi-user.target") multiUser ??= at(r);
    else if (
      id === MESSAGE_ID.shutdown ||
      id === MESSAGE_ID.journalStop ||
      (id === MESSAGE_ID.unitStarted && r.unit !== null && SHUTDOWN_TARGETS.includes(r.unit)) ||
      (id === MESSAGE_ID.unitStopping && r.unit === "systemd-journal-flush.service")
    )
      shutdown ??= at(r);
  }
  return { multiUser, startupFinished, shutdown };
}

export interface FailedUnit {
  unit: string;
  message: string;
  cursor: string;
  time: string | null;
  count: number;
}

/** Units whose start failed, or that ended with a failure result, first occurrence each. */
export function failedUnits(records: JournalRecord[]): FailedUnit[] {
  const byUnit = new Map<string, FailedUnit>();
  for (const r of records) {
    if (r.messageId !== MESSAGE_ID.unitFailed && r.messageId !== MESSAGE_ID.unitFailureResult) continue;
    if (!r.unit) continue;
    const seen = byUnit.get(r.unit);
    if (seen) seen.count++;
    else byUnit.set(r.unit, { unit: r.unit, message: r.message, cursor: r.cursor, time: r.time, count: 1 });
  }
  return [...byUnit.values()];
}
