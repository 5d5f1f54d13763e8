// Benchmark helpers for the VM scenarios 10 and 14: both sides of a comparison are timed by the
// GUEST's clock, from one small node client run in the guest (the agent's HTTP request over the
// guest's loopback, the shell script through bash), so neither side pays the host's HTTP hop through
// QEMU's user network and both pay the same TCG slowness. The agent's own command log (its `command`
// debug lines, system/real.ts) tells which commands each step ran.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { shQuote, type Vm } from "./lab.js";

/** One timed step: an HTTP call to the agent (bearer token from /host/token) or a bash script. */
export type Step =
  | { name: string; http: { method: string; path: string; body?: unknown } }
  | { name: string; sh: string };

export interface StepTime {
  name: string;
  /** guest wall clock (ms since epoch) at the start and end: windows for the agent's log lines */
  start: number;
  end: number;
  /** guest monotonic duration */
  ms: number;
  /** HTTP status or the script's exit code */
  status: number;
  detail: string;
}

// The client: node:http (no fetch: undici's lazy start would be timed), performance.now() around
// each step, Date.now() for the windows (pino stamps the agent's lines with the same clock).
const CLIENT = `
import http from "node:http";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
const token = readFileSync("/host/token", "utf8").trim();
const steps = JSON.parse(process.env.LB_STEPS);
const call = (method, path, body) => new Promise((resolve, reject) => {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers = { authorization: "Bearer " + token };
  if (data) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  const req = http.request({ host: "127.0.0.1", port: 8080, method, path, headers }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
  });
  req.on("error", reject);
  req.end(data);
});
// The client's own first HTTP request and first child process are not timed (cold code in a fresh
// node): both are run once before the steps, so each side pays only for its own work.
await call("GET", "/healthz").catch(() => undefined);
spawnSync("bash", ["-c", "true"]);
const out = [];
for (const s of steps) {
  const start = Date.now();
  const t0 = performance.now();
  let status;
  let detail = "";
  if (s.sh !== undefined) {
    const r = spawnSync("bash", ["-c", s.sh], { encoding: "utf8", maxBuffer: 1 << 28 });
    status = r.status ?? 128;
    if (status !== 0) detail = String(r.stderr || r.stdout).slice(-2000);
  } else {
    const r = await call(s.http.method, s.http.path, s.http.body);
    status = r.status;
    if (status >= 300) detail = r.text.slice(0, 2000);
  }
  const ms = performance.now() - t0;
  out.push({ name: s.name, start, end: Date.now(), ms, status, detail });
}
process.stdout.write(JSON.stringify(out) + "\\n");
`;

/** Run the steps in order in the guest; throws when a step failed (HTTP ≥ 300, script exit ≠ 0). */
export async function timeInGuest(vm: Vm, steps: Step[], timeoutMs = 1_800_000): Promise<StepTime[]> {
  const r = await vm.run(
    `LB_STEPS=${shQuote(JSON.stringify(steps))} node --input-type=module -e ${shQuote(CLIENT)}`,
    { timeoutMs },
  );
  if (r.rc !== 0) throw new Error(`bench client failed (rc=${r.rc}): ${r.stderr}`);
  const times = JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as StepTime[];
  const bad = times.find((t) => (t.status >= 300 || t.status < 200) && t.status !== 0);
  if (bad) throw new Error(`bench step ${bad.name} failed (${bad.status}): ${bad.detail}`);
  return times;
}

export interface LogLine {
  time: number;
  msg: string;
  cmd?: string[];
  [k: string]: unknown;
}

/** The agent's log lines (JSON), as the guest wrote them to /host/logs/agent.log. */
export async function agentLogLines(vm: Vm): Promise<LogLine[]> {
  const text = await readFile(path.join(vm.logsDir, "agent.log"), "utf8").catch(() => "");
  const out: LogLine[] = [];
  for (const l of text.split("\n")) {
    if (!l.startsWith("{")) continue;
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      out.push({ ...j, time: typeof j.time === "number" ? j.time : Date.parse(String(j.time)) } as LogLine);
    } catch {}
  }
  return out;
}

/** The commands the agent ran (its `command` debug lines) with time in [from, to]. */
export function commandsBetween(lines: LogLine[], from: number, to: number): string[][] {
  return lines
    .filter((l) => l.msg === "command" && l.cmd && l.time >= from && l.time <= to)
    .map((l) => l.cmd ?? []);
}

/** One entry of a request's timeline: a command (started atMs into the request, ran ms) or an agent step (ended atMs, took ms). */
export interface TimelineEntry {
  atMs: number;
  ms: number;
  cmd?: string;
  step?: string;
}

/** What the agent did in [from, to] by its log: its commands and its own `mount step` marks, in order. */
export function requestTimeline(lines: LogLine[], from: number, to: number): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (const l of lines) {
    if (l.time < from || l.time > to) continue;
    const ms = Number(l.ms ?? 0);
    if (l.msg === "command" && l.cmd)
      out.push({ cmd: l.cmd.slice(0, 3).join(" "), ms, atMs: Math.round(l.time - ms - from) });
    else if (l.msg === "mount step" && typeof l.step === "string")
      out.push({ step: l.step, ms, atMs: Math.round(l.time - from) });
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

export const showTimeline = (t: readonly TimelineEntry[] | undefined): string =>
  (t ?? [])
    .map((x) => (x.cmd ? `${x.atMs} ${x.cmd} (${x.ms})` : `${x.atMs} [${x.step}: ${x.ms}]`))
    .join(" | ");

export type CommandKind = "detect" | "plan" | "import" | "mount";

/**
 * What a command ran by a mount request is for: the import, the dataset listing the plan needs,
 * the mounts (and probe unmounts), or detection (anything else: lsblk, blkid, hostid, the device
 * scan `zpool import`, `zpool list/status`).
 */
export function kindOf(cmd: readonly string[]): CommandKind {
  const [file, sub, ...rest] = cmd;
  if (file === "mount" || file === "umount") return "mount";
  if (file === "zpool" && sub === "import" && rest.length > 0) return "import";
  if (file === "zfs" && (sub === "list" || sub === "get") && rest.includes("-r")) return "plan";
  return "detect";
}

export function countByKind(cmds: readonly string[][]): Record<CommandKind, number> {
  const n: Record<CommandKind, number> = { detect: 0, plan: 0, import: 0, mount: 0 };
  for (const c of cmds) n[kindOf(c)]++;
  return n;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median: Math.round(median), min: Math.round(s[0] ?? 0), max: Math.round(s[s.length - 1] ?? 0) };
}

export const fmt = (s: Spread): string => `${s.median} ms (${s.min}–${s.max})`;

/** A, B, B, A, A, B, … (ABBA): each side goes first as often as the other, n rounds each. */

/**
 * Interleaved rounds of several sides: A B D, then D B A, … (each side first and last as often as
 * the others, so the host's load weighs on all alike). Scenario 10's sides: A (this agent, a pool
 * it mounted before in this process), B (the shell), D (this agent just started: its first mount),
 * and with a baseline agent (LIFEBOAT_VM_BASELINE_AGENT=<bundle>, e.g. the previous release's) C.
 */
export function interleaved<S extends string>(sides: readonly S[], n: number): S[] {
  const out: S[] = [];
  for (let i = 0; out.length < sides.length * n; i++)
    out.push(...(i % 2 === 0 ? sides : [...sides].reverse()));
  return out;
}

/** A B, B A, … */
export const abba = (n: number) => interleaved(["A", "B"] as const, n);
/** A B C, C B A, … (with a baseline agent as C) */
export const abcOrder = (n: number) => interleaved(["A", "B", "C"] as const, n);

/** The baseline bundle to compare with (same guest boot), or null. */
export const BASELINE_AGENT = process.env.LIFEBOAT_VM_BASELINE_AGENT || null;
/**
 * LIFEBOAT_VM_BASELINE_COLD=1: the earlier agent (C) is measured as D is, on its first mount after
 * a start without auto-mount, so that C and D compare the first mount before and after a change.
 */
export const BASELINE_COLD = process.env.LIFEBOAT_VM_BASELINE_COLD === "1";
/**
 * How long a freshly started agent is left alone before its first mount is timed (D, and C when
 * cold): the operator's first request comes when the page or the client is open, not the
 * millisecond the port answers; the agent uses the time for its first detection and its warm-up.
 */
export const COLD_SETTLE_MS = 5_000;

/**
 * The log level the ISO's service runs the agent at (iso/service.nix, option `logLevel`, default
 * "info"). The guest's agent.sh says debug (its command lines are what the scenarios check); a
 * timed side runs at this level instead, as an operator's agent does: at debug every request,
 * command and step writes a JSON line, a cost the operator never pays.
 */
export const SHIPPED_LOG_LEVEL = "info";

export type AgentSide = "A" | "C" | "D";

/**
 * Install the baseline bundle in the guest and return the command that restarts the agent as `side`
 * (the guest's /lab/agent.sh, with /host/lifeboat.mjs or the baseline bundle), the way systemd
 * restarts lifeboat.service: stop the running one, start the other, pid in /run/agent.pid.
 * `level`: the log level of its sides (agent.sh's debug when absent); `trace` on a restart: at debug
 * all the same (a round that reads the agent's command lines, not timed).
 */
export async function agentSwitcher(
  vm: Vm,
  opts: { level?: string } = {},
): Promise<(side: AgentSide, trace?: boolean) => string> {
  // D: this agent as a fresh start with nothing mounted (no auto-mount): its next mount is its first
  await vm.sh(
    `sed "s#'--auto-mount' 'readonly'#'--auto-mount' 'off'#" /lab/agent.sh >/run/agent-cold.sh && grep -q "'--auto-mount' 'off'" /run/agent-cold.sh`,
  );
  if (BASELINE_AGENT) {
    const { copyFile } = await import("node:fs/promises");
    await copyFile(BASELINE_AGENT, path.join(vm.shareDir, "lifeboat-baseline.mjs"));
    await vm.sh(
      `sed 's#/host/lifeboat.mjs#/host/lifeboat-baseline.mjs#' ${BASELINE_COLD ? "/run/agent-cold.sh" : "/lab/agent.sh"} >/run/agent-baseline.sh`,
    );
  }
  const debug: Record<AgentSide, string> = {
    A: "/lab/agent.sh",
    C: "/run/agent-baseline.sh",
    D: "/run/agent-cold.sh",
  };
  const timed = { ...debug };
  if (opts.level && opts.level !== "debug") {
    for (const side of ["A", "D", ...(BASELINE_AGENT ? ["C"] : [])] as AgentSide[]) {
      timed[side] = `/run/agent-${side}-${opts.level}.sh`;
      await vm.sh(
        `sed "s#'--log-level' 'debug'#'--log-level' '${opts.level}'#" ${debug[side]} >${timed[side]} && grep -q "'--log-level' '${opts.level}'" ${timed[side]}`,
      );
    }
  }
  return (side, trace = false) =>
    "kill $(cat /run/agent.pid) && while kill -0 $(cat /run/agent.pid) 2>/dev/null; do sleep 0.2; done; " +
    `(setsid bash ${(trace ? debug : timed)[side]} </dev/null >>/host/logs/agent.log 2>&1 & echo $! >/run/agent.pid)`;
}

/** The load on the host (1-minute average) now: reported next to every figure. */
export async function hostLoad(): Promise<number> {
  const { loadavg } = await import("node:os");
  return Number((loadavg()[0] ?? 0).toFixed(1));
}

/** Merge one scenario's figures into bench/results-vm.json (scenario 10 at the top level, 14 under bigPool). */
export async function writeVmResults(update: Record<string, unknown>): Promise<void> {
  const { writeFile } = await import("node:fs/promises");
  const file = path.join(import.meta.dirname, "..", "..", "bench", "results-vm.json");
  const old = JSON.parse(await readFile(file, "utf8").catch(() => "{}")) as Record<string, unknown>;
  await writeFile(file, `${JSON.stringify({ ...old, ...update }, null, 2)}\n`);
}

export interface BootMark {
  what: string;
  /** guest uptime (s): seconds since the guest's kernel started */
  s: number;
}

/**
 * Boot of the rescue guest → system mounted, by the guest's clock (seconds of uptime): init's own
 * marks on the console (udev settled, modules loaded, READY), when init started the agent, the
 * agent's "listening" and first "mounted" lines (wall clock, turned into uptime with the guest's
 * own offset), and the commands of that first auto-mount with their run times. `preKernelS`: what
 * QEMU took before the guest's clock started (host clock, QEMU start → API ready, less the guest's
 * uptime then; firmware and kernel loading under TCG).
 */
export async function bootTimeline(vm: Vm): Promise<{
  marks: BootMark[];
  preKernelS: number | null;
  autoMount: { cmd: string; startS: number; ms: number }[];
}> {
  const { readFile } = await import("node:fs/promises");
  const [up, wall] = (await vm.sh("cat /proc/uptime; date +%s%3N")).trim().split("\n");
  const offsetMs = Number(wall) - Number(up?.split(" ")[0]) * 1000;
  const toS = (t: number) => Number(((t - offsetMs) / 1000).toFixed(2));
  const marks: BootMark[] = [];
  const consoleText = await readFile(vm.consoleLog, "utf8").catch(() => "");
  for (const [re, what] of [
    [/udev settled uptime=([\d.]+)/, "init: udev settled (coldplug)"],
    [/modules loaded uptime=([\d.]+)/, "init: zfs and 9p modules loaded"],
    [/READY uptime=([\d.]+)/, "init: network up, agent service started"],
  ] as const) {
    const m = re.exec(consoleText);
    if (m) marks.push({ what, s: Number(m[1]) });
  }
  const started = await vm.agentStartedUptime();
  if (started !== undefined) marks.push({ what: "agent process started (node)", s: started });
  const lines = await agentLogLines(vm);
  const listening = lines.find((l) => l.msg === "listening");
  const mounted = lines.find((l) => l.msg === "mounted");
  if (listening) marks.push({ what: 'agent "listening" (HTTP API and page served)', s: toS(listening.time) });
  const autoMount: { cmd: string; startS: number; ms: number }[] = [];
  if (listening && mounted) {
    for (const l of lines)
      if (l.msg === "command" && l.time >= listening.time && l.time <= mounted.time) {
        const ms = Number(l.ms ?? 0);
        autoMount.push({ cmd: (l.cmd ?? []).slice(0, 3).join(" "), startS: toS(l.time - ms), ms });
      }
    marks.push({ what: 'auto-mount "mounted" (system mounted read-only)', s: toS(mounted.time) });
    // the first status answer after it (a reader's detection: what the page waits for to show it)
    const next = lines.filter((l) => l.msg === "command" && l.time > mounted.time);
    const firstGap = next.findIndex((l, i) => i > 0 && l.time - (next[i - 1]?.time ?? 0) > 1500);
    const read = firstGap < 0 ? next : next.slice(0, firstGap);
    const last = read.at(-1);
    if (last)
      marks.push({ what: "first status read after it (the page shows the system)", s: toS(last.time) });
  }
  marks.sort((a, b) => a.s - b.s);
  // host clock since QEMU started, less the guest's uptime at (about) the same moment
  const hostNow = Date.now();
  const guestNow = await vm.uptime();
  const preKernelS = vm.startedAt
    ? Number(((hostNow - vm.startedAt) / 1000 - guestNow - (Date.now() - hostNow) / 2000).toFixed(1))
    : null;
  return { marks, preKernelS, autoMount };
}
