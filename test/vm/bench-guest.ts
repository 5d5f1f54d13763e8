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
export function abba(n: number): ("A" | "B")[] {
  const out: ("A" | "B")[] = [];
  for (let i = 0; out.length < 2 * n; i++)
    out.push(...(i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)));
  return out;
}

/** Merge one scenario's figures into bench/results-vm.json (scenario 10 at the top level, 14 under bigPool). */
export async function writeVmResults(update: Record<string, unknown>): Promise<void> {
  const { writeFile } = await import("node:fs/promises");
  const file = path.join(import.meta.dirname, "..", "..", "bench", "results-vm.json");
  const old = JSON.parse(await readFile(file, "utf8").catch(() => "{}")) as Record<string, unknown>;
  await writeFile(file, `${JSON.stringify({ ...old, ...update }, null, 2)}\n`);
}
