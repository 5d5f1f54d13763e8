// `npm run bench`: every row of issue 13's table, side by side, in one run (add --quick for a
// smoke run). The SHIPPED bundle (dist/lifeboat.mjs, as agent/build.mjs made it) against a fastify
// hello-world bundled with the same esbuild options and the same fastify; interleaved rounds
// (A B, then B A, …) so that load on the machine hits both alike; medians with min–max; memory from
// /proc. The agent runs with --auto-mount off and its root in a temp folder: it only lists (lsblk,
// blkid, zpool if there is one) and needs no ZFS. Results go to .cache/bench/ (ignored by git).
// Nothing here is a test: figures are measured and compared with the targets, never asserted.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "../agent/bundle-options.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const BUNDLE = join(ROOT, "dist", "lifeboat.mjs");
const OUT = join(ROOT, ".cache", "bench");
const TOKEN = "bench-token-0123456789abcdef-0123456789";
const autocannon = createRequire(import.meta.url)("autocannon");
const quick = process.argv.includes("--quick");
const START_ROUNDS = quick ? 3 : 15;
const RSS_ROUNDS = quick ? 1 : 3;
const ROUNDS = quick ? 2 : 5;
const API_ROUNDS = quick ? 1 : 3;
const API_SECONDS = quick ? 2 : 5;
const IDLE_MS = 5_000;
const CONNECTIONS = 10;
const SIZES = [1_000, 10_000, 100_000];
const PLAN_TIMEOUT_MS = quick ? 20_000 : 60_000;
const MiB = 1024 * 1024;

mkdirSync(OUT, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), "lifeboat-bench-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor((xs.length - 1) / 2)];
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs });
/**
 * Ratio of two series measured in rounds (each round runs both, back to back): the median of the
 * per-round ratios. Load from other work on the machine drifts slowly, so pairing cancels most of
 * it where two medians taken apart would not.
 */
const paired = (a, b) => median(a.map((x, i) => x / b[i]));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

// ── the two bundles ─────────────────────────────────────────────────────────────────────────────
const hello = join(tmp, "hello.mjs");
await build({ ...BUNDLE_OPTIONS, entryPoints: [join(ROOT, "bench", "hello.mjs")], outfile: hello });
// Is dist/lifeboat.mjs what agent/build.mjs makes of this source? (The bench measures it either way.)
const fresh = join(tmp, "fresh.mjs");
spawnSync(process.execPath, [join(ROOT, "agent", "build.mjs"), fresh], { stdio: "inherit" });
const shippedIsFresh = readFileSync(BUNDLE).equals(readFileSync(fresh));
const entry = join(tmp, "entry.mjs");
await build({
  entryPoints: [join(ROOT, "bench", "entry.ts")],
  outfile: entry,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  logLevel: "warning",
  define: { "import.meta.dirname": JSON.stringify(join(ROOT, "test", "helpers")) },
  banner: { js: "import{createRequire as __r}from'node:module';const require=__r(import.meta.url);" },
});

const servers = {
  lifeboat: async (port) => {
    const dir = mkdtempSync(join(tmp, "agent-"));
    writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
    return [
      BUNDLE,
      "--listen",
      `127.0.0.1:${port}`,
      "--token-file",
      join(dir, "token"),
      "--root",
      join(dir, "mnt"),
      "--auto-mount",
      "off",
    ];
  },
  hello: async (port) => [hello, String(port)],
};

/** Start one server; resolve when /healthz first answers 200 (polled back to back). */
async function start(kind) {
  const port = await freePort();
  const args = await servers[kind](port);
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (b) => {
    err += b;
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited ${child.exitCode}: ${err}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch {}
    await sleep(1);
  }
  return { child, port, ms: performance.now() - t0 };
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
}

const rounds = (n, fn) =>
  (async () => {
    const out = { lifeboat: [], hello: [] };
    for (let r = 0; r < n; r++)
      for (const kind of r % 2 === 0 ? ["lifeboat", "hello"] : ["hello", "lifeboat"])
        out[kind].push(await fn(kind));
    return out;
  })();

const results = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? "?",
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAvgBefore: loadavg(),
  },
  quick,
  shippedIsFresh,
};
const log = (s) => process.stderr.write(`bench: ${s}\n`);

// ── start → first 200 on /healthz; idle RSS 5 s after ready ──────────────────────────────────────
log(`start-up: ${START_ROUNDS} interleaved rounds; idle RSS: ${RSS_ROUNDS}`);
const startup = await rounds(START_ROUNDS, async (kind) => {
  const { child, ms } = await start(kind);
  await stop(child);
  return ms;
});
const idle = await rounds(RSS_ROUNDS, async (kind) => {
  const { child } = await start(kind);
  await sleep(IDLE_MS);
  const rss = rssOf(child.pid);
  await stop(child);
  return rss;
});
for (const k of ["lifeboat", "hello"]) {
  results[k] = {
    startMs: stats(startup[k]),
    idleRssBytes: stats(idle[k]),
    bundleBytes: statSync(k === "lifeboat" ? BUNDLE : hello).size,
  };
}
results.ratios = {
  startMs: paired(startup.lifeboat, startup.hello),
  idleRssBytes: paired(idle.lifeboat, idle.hello),
};

// ── GET /v1/status (token; the detection is cached) vs hello's /healthz ─────────────────────────
log(
  `GET /v1/status vs /healthz: autocannon, ${CONNECTIONS} connections, ${API_ROUNDS}×${API_SECONDS} s each`,
);
const api = await rounds(API_ROUNDS, async (kind) => {
  const { child, port } = await start(kind);
  const opts = {
    url: `http://127.0.0.1:${port}${kind === "lifeboat" ? "/v1/status" : "/healthz"}`,
    connections: CONNECTIONS,
    headers: kind === "lifeboat" ? { authorization: `Bearer ${TOKEN}` } : {},
  };
  await autocannon({ ...opts, duration: 1 }); // warm-up: JIT, first detection, sockets
  const r = await autocannon({ ...opts, duration: API_SECONDS });
  await stop(child);
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
  };
});
results.ratios.rps = paired(
  api.lifeboat.map((x) => x.rps),
  api.hello.map((x) => x.rps),
);
for (const k of ["lifeboat", "hello"]) {
  results[k].api = {
    rps: stats(api[k].map((x) => x.rps)),
    p99Ms: stats(api[k].map((x) => x.p99)),
    maxMs: Math.max(...api[k].map((x) => x.max)),
    non2xx: api[k].reduce((a, x) => a + x.non2xx, 0),
    errors: api[k].reduce((a, x) => a + x.errors, 0),
  };
}

// ── parsers and the planner, each call in a fresh process ───────────────────────────────────────
function child(args, timeout = 120_000) {
  const r = spawnSync(process.execPath, ["--expose-gc", entry, ...args], { encoding: "utf8", timeout });
  if (r.error?.code === "ETIMEDOUT" || r.signal) return { timedOut: true };
  if (r.status !== 0) throw new Error(`entry ${args.join(" ")}: ${r.stderr}`);
  const last = r.stdout.trim().split("\n").pop();
  return last ? JSON.parse(last) : null;
}
for (const n of SIZES) child(["gen", String(n), tmp]);
log(
  `parse of 100,000 datasets: zfs get -j vs JSON.parse (alone, and with the same reads), ${2 * ROUNDS} rounds`,
);
const PARSERS = {
  lifeboat: "parse-zfs-get",
  lifeboatParseOnly: "parse-zfs-get-only",
  json: "parse-json",
  jsonRead: "parse-json-read",
};
const parse = { lifeboat: [], lifeboatParseOnly: [], json: [], jsonRead: [] };
for (let r = 0; r < 2 * ROUNDS; r++) {
  const order = Object.keys(PARSERS);
  for (const k of r % 2 === 0 ? order : order.reverse()) parse[k].push(child([PARSERS[k], "100000", tmp]));
}
const summary = (runs) => ({
  ms: stats(runs.map((x) => x.ms)),
  peakBytes: stats(runs.map((x) => x.peakBytes)),
});
results.ratios.parse = paired(
  parse.lifeboatParseOnly.map((x) => x.ms),
  parse.json.map((x) => x.ms),
);
results.ratios.parseAndReads = paired(
  parse.lifeboat.map((x) => x.ms),
  parse.jsonRead.map((x) => x.ms),
);
results.parse = {
  zfsGet: summary(parse.lifeboat),
  zfsGetParseOnly: summary(parse.lifeboatParseOnly),
  jsonParse: summary(parse.json),
  jsonParseAndSameReads: summary(parse.jsonRead),
};
log("growth: 1k, 10k, 100k datasets (zfs get -j, zfs list -H -p, planMount)");
results.growth = {};
for (const [what, args] of [
  ["zfs get -j", (n) => ["parse-zfs-get", String(n), tmp]],
  ["zfs list -H -p", (n) => ["parse-zfs-list", String(n), tmp]],
  ["planMount", (n) => ["plan", String(n)]],
]) {
  results.growth[what] = {};
  let gaveUp = false;
  for (const n of SIZES) {
    if (gaveUp) {
      results.growth[what][n] = { skipped: true };
      continue;
    }
    const runs = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const r = child(args(n), what === "planMount" ? PLAN_TIMEOUT_MS : 120_000);
      if (r.timedOut) {
        runs.length = 0;
        gaveUp = true;
        break;
      }
      runs.push(r);
    }
    results.growth[what][n] = gaveUp
      ? { timedOutAfterMs: PLAN_TIMEOUT_MS }
      : { ms: stats(runs.map((x) => x.ms)), peakBytes: stats(runs.map((x) => x.peakBytes)) };
  }
}

// ── QEMU figures: measured by `npm run test:vm` (test/vm/10-mount-bench.test.ts), shown if present
const vmFile = join(ROOT, "bench", "results-vm.json");
results.vm = existsSync(vmFile) ? JSON.parse(readFileSync(vmFile, "utf8")) : null;
results.machine.loadAvgAfter = loadavg();
rmSync(tmp, { recursive: true, force: true });
writeFileSync(join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);

// ── the table ───────────────────────────────────────────────────────────────────────────────────
const f = (x, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const range = (s, unit = "", d = 0, scale = 1) =>
  `${f(s.median / scale, d)}${unit} (${f(s.min / scale, d)}–${f(s.max / scale, d)})`;
const verdict = (ok) => (ok ? "PASS" : "MISS");
const L = results.lifeboat;
const H = results.hello;
const rows = [];
{
  const ratio = results.ratios.startMs;
  rows.push([
    "start → first 200 on /healthz",
    range(L.startMs, " ms"),
    `hello-world ${range(H.startMs, " ms")}`,
    ratio,
    "≤ 1.3×",
    ratio <= 1.3,
  ]);
}
{
  const ratio = results.ratios.idleRssBytes;
  rows.push([
    "idle RSS 5 s after ready",
    range(L.idleRssBytes, " MiB", 1, MiB),
    `hello-world ${range(H.idleRssBytes, " MiB", 1, MiB)}`,
    ratio,
    "≤ 1.2×",
    ratio <= 1.2,
  ]);
}
{
  const ratio = L.bundleBytes / H.bundleBytes;
  rows.push([
    "bundle",
    `${f(L.bundleBytes / 1000)} KB`,
    `hello-world ${f(H.bundleBytes / 1000)} KB`,
    ratio,
    "≤ 1.3×",
    ratio <= 1.3,
  ]);
}
{
  const a = L.api;
  const b = H.api;
  const ratio = results.ratios.rps;
  const p99ok = a.p99Ms.median <= 2 * Math.max(b.p99Ms.median, 1);
  rows.push([
    `GET /v1/status (token, cached) vs hello /healthz, ${CONNECTIONS} conns`,
    `${range(a.rps, " req/s")}, p99 ${f(a.p99Ms.median)} ms, max ${f(a.maxMs)} ms${a.non2xx + a.errors ? `, ${a.non2xx} non-2xx, ${a.errors} errors` : ""}`,
    `hello-world ${range(b.rps, " req/s")}, p99 ${f(b.p99Ms.median)} ms, max ${f(b.maxMs)} ms`,
    ratio,
    "≥ 0.6×, p99 ≤ 2× hello's",
    ratio >= 0.6 && p99ok && a.non2xx + a.errors === 0,
  ]);
}
{
  // Like for like with JSON.parse: parseZfsGet's own work (it reads datasets only when asked, by
  // name). The reads detection then does (every dataset's encryption root) are shown beside the
  // same reads on a plain JSON.parse result: they cost what they cost on any representation.
  const z = results.parse.zfsGet;
  const j = results.parse.jsonParse;
  const jr = results.parse.jsonParseAndSameReads;
  const po = results.parse.zfsGetParseOnly;
  const ratio = results.ratios.parse;
  rows.push([
    "parse `zfs get -j` of 100k datasets (then read each)",
    `${range(po.ms, " ms")}, +${f(po.peakBytes.median / MiB)} MiB peak; then reading each: ${f(z.ms.median)} ms, +${f(z.peakBytes.median / MiB)} MiB (${f(results.ratios.parseAndReads, 2)}× the same reads after JSON.parse)`,
    `JSON.parse ${range(j.ms, " ms")}, +${f(j.peakBytes.median / MiB)} MiB; with the same reads ${f(jr.ms.median)} ms`,
    ratio,
    "≤ 0.5 s and ≤ 1.3×",
    po.ms.median <= 500 && ratio <= 1.3,
  ]);
}
{
  const g = results.growth.planMount;
  const cell = (n) =>
    g[n].ms
      ? `${f(n / 1000)}k ${f(g[n].ms.median, g[n].ms.median < 10 ? 1 : 0)} ms`
      : g[n].timedOutAfterMs
        ? `${f(n / 1000)}k > ${f(PLAN_TIMEOUT_MS / 1000)} s`
        : `${f(n / 1000)}k skipped`;
  const big = g[100_000]?.ms?.median;
  rows.push([
    "planMount, n datasets",
    SIZES.map(cell).join(" · "),
    "—",
    null,
    "100k ≤ 0.3 s",
    big !== undefined && big <= 300,
  ]);
}
// The QEMU rows come from the VM suite: bench/results-vm.json, written by test/vm/10-mount-bench.test.ts
// (top level) and test/vm/14-big-pool.test.ts (bigPool). Figures, dates and loads are read from it;
// only the targets (at most the time of the same work done by hand) are written here.
const vm = results.vm;
const secs = (ms) => f(ms / 1000, ms < 10_000 ? 2 : 1);
const spread = (s) =>
  s?.median === undefined ? null : `${secs(s.median)} s (${secs(s.min)}–${secs(s.max)})`;
const when = (command, at, load) =>
  `${command}, ${String(at ?? "?").slice(0, 10)}${load ? `, host load ${f(load.min, 1)}–${f(load.max, 1)}` : ""}`;
const vmRow = (figure, command, lifeboat, reference, ratio, at, load) => {
  const measured = typeof ratio === "number";
  rows.push([
    figure,
    measured ? `${lifeboat ?? "?"} (${when(command, at, load)})` : `not measured: ${command}`,
    reference ?? "—",
    measured ? ratio : null,
    "≤ 1.0×",
    measured ? ratio <= 1.0 : null,
  ]);
};
vmRow(
  "QEMU, the seed's server: POST /v1/mount (plan + import + mount) vs the same commands as a shell script",
  "npm run test:vm",
  spread(vm?.agent?.mount) ?? (vm?.agentMountMs ? `${secs(vm.agentMountMs)} s` : null),
  vm?.shellMountMs ? `shell ${spread(vm.shell?.mount) ?? `${secs(vm.shellMountMs)} s`}` : null,
  vm?.ratio,
  vm?.at,
  vm?.hostLoad,
);
vmRow(
  "QEMU, the seed's server: detect + mount vs `zpool import` + the script",
  "npm run test:vm",
  spread(vm?.agentTotal),
  vm?.shellTotal ? `shell ${spread(vm.shellTotal)}` : null,
  vm?.ratioWithDetect,
  vm?.at,
  vm?.hostLoad,
);
const bigPool = vm?.bigPool;
vmRow(
  "QEMU, ~2,000 datasets, ~20,000 snapshots: listening → mounted",
  "npm run test:vm:big",
  spread(bigPool?.agentMs),
  bigPool?.byHandMs ? `by hand ${spread(bigPool.byHandMs)}` : null,
  bigPool?.ratio,
  bigPool?.at,
  bigPool?.hostLoad,
);
{
  // Reported, no target: boot of the rescue guest → the page shows the system mounted.
  const marks = vm?.boot?.marks ?? [];
  const last = marks[marks.length - 1];
  rows.push([
    "QEMU, boot of the rescue guest → page usable with the system mounted",
    last
      ? `${f(last.s, 1)} s of guest clock${vm.boot.preKernelS !== undefined ? ` + ${f(vm.boot.preKernelS, 1)} s before it` : ""} (${when("npm run test:vm", vm.at, vm.hostLoad)})`
      : "not measured: npm run test:vm",
    "—",
    null,
    "reported",
    null,
  ]);
}

const table = [["figure", "Lifeboat", "reference", "ratio", "target", "result"]].concat(
  rows.map(([a, b, c, r, t, ok]) => [
    a,
    b,
    c,
    r === null ? "—" : `${f(r, 2)}×`,
    t,
    ok === null ? "—" : verdict(ok),
  ]),
);
const md = (t) => {
  const w = t[0].map((_, i) => Math.max(...t.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
  return [line(t[0]), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...t.slice(1).map(line)].join("\n");
};
const growth = [["input", ...SIZES.map((n) => `${f(n / 1000)}k datasets`), "10k → 100k"]];
for (const [what, g] of Object.entries(results.growth)) {
  const cell = (n) =>
    g[n].ms
      ? `${f(g[n].ms.median, 1)} ms, +${f(g[n].peakBytes.median / MiB, 1)} MiB`
      : g[n].timedOutAfterMs
        ? `> ${f(g[n].timedOutAfterMs / 1000)} s`
        : "skipped";
  const t10 = g[10_000]?.ms?.median;
  const t100 = g[100_000]?.ms?.median;
  growth.push([what, ...SIZES.map(cell), t10 && t100 ? `time ×${f(t100 / t10, 1)}` : "—"]);
}
const m = results.machine;
const header = `Lifeboat bench${quick ? " (--quick)" : ""} — ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, load average ${f(m.loadAvgBefore[0], 1)} → ${f(m.loadAvgAfter[0], 1)}; ${START_ROUNDS} start rounds, ${RSS_ROUNDS} idle-RSS rounds, ${API_ROUNDS}×${API_SECONDS} s per API run, ${2 * ROUNDS} parse rounds; ratio = median of per-round ratios${shippedIsFresh ? "" : "\nWARNING: dist/lifeboat.mjs is not a fresh build of this source (npm run build); measured as shipped"}`;
const text = `${header}\n\n${md(table)}\n\n${md(growth)}\n`;
writeFileSync(join(OUT, "table.md"), text);
process.stdout.write(`\n${text}\nwritten: .cache/bench/results.json, .cache/bench/table.md\n`);
