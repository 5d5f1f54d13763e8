// `npm run bench`: every published figure of Lifeboat's "Reliability" section in one run, printed
// as a table and written to bench/results.json. Runs on plain node: the shipped bundle
// (dist/lifeboat.mjs) for start-up and RSS, and bench/entry.ts bundled here by esbuild for the
// fake-backed API and the parsers. Nothing is asserted: figures are measured, ratios printed.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const ROOT = new URL("..", import.meta.url).pathname;
const BUNDLE = join(ROOT, "dist", "lifeboat.mjs");
const TOKEN = "bench-token-0123456789abcdef";
const autocannon = createRequire(import.meta.url)("autocannon");
const tmp = mkdtempSync(join(tmpdir(), "lifeboat-bench-"));
const quick = process.argv.includes("--quick");
const RUNS = quick ? 3 : 10;
const API_SECONDS = quick ? 2 : 5;
const CONNECTIONS = 10;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MB = 1024 * 1024;

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

/** Start a server process and wait until it prints "ready" (our helpers) or answers /healthz. */
async function startProcess(args, { port, healthz = false } = {}) {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (b) => {
    err += b;
  });
  if (healthz) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${err}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (r.ok) break;
      } catch {}
      await sleep(2);
    }
  } else {
    await new Promise((resolve, reject) => {
      child.stdout.on("data", (b) => String(b).includes("ready") && resolve());
      child.on("exit", (c) => reject(new Error(`exited ${c}: ${err}`)));
    });
  }
  return { child, ms: performance.now() - t0 };
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
}

function cannon(url, opts) {
  return autocannon({
    url,
    connections: CONNECTIONS,
    headers: { authorization: `Bearer ${TOKEN}` },
    ...opts,
  });
}

const results = {
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    // Other work on the machine skews every figure: the 1-minute load average before and after.
    loadAvgBefore: loadavg()[0],
  },
  notes: [],
};

// ── bundle ───────────────────────────────────────────────────────────────────────────────────────
const bundle = readFileSync(BUNDLE);
results.bundle = { bytes: bundle.length, gzipBytes: gzipSync(bundle, { level: 9 }).length };

// ── start-up: agent start → /healthz 200, against `node -e 0` ───────────────────────────────────
const agentArgs = (port, dir) => [
  BUNDLE,
  "--listen",
  `127.0.0.1:${port}`,
  "--token-file",
  join(dir, "token"),
  "--root",
  join(dir, "mnt"),
  "--auto-mount",
  "off",
  "--log-level",
  "warn",
];
const nodeMs = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  nodeMs.push(performance.now() - t0);
}
const startMs = [];
for (let i = 0; i < RUNS; i++) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmp, "start-"));
  const { child, ms } = await startProcess(agentArgs(port, dir), { port, healthz: true });
  startMs.push(ms);
  await stop(child);
}
results.startup = {
  nodeE0Ms: median(nodeMs),
  agentHealthzMs: median(startMs),
  ratio: median(startMs) / median(nodeMs),
  runs: RUNS,
};

// ── RSS of the shipped agent: after start, after 10,000 /v1/status ──────────────────────────────
{
  const port = await freePort();
  const dir = mkdtempSync(join(tmp, "rss-"));
  writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
  const { child } = await startProcess(agentArgs(port, dir), { port, healthz: true });
  await sleep(500);
  const afterStart = rssOf(child.pid);
  const r = await cannon(`http://127.0.0.1:${port}/v1/status`, { amount: 10_000 });
  const after10k = rssOf(child.pid);
  await stop(child);
  results.rss = {
    afterStartBytes: afterStart,
    after10kStatusBytes: after10k,
    statusRequests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
  };
  results.notes.push(
    "RSS is measured on the shipped bundle on this machine (real detection commands, 3 s detection cache; no ZFS here, so `zfs unavailable`)",
  );
}

// ── parse throughput (100,000 datasets) and the fake-backed API, from bench/entry.ts ────────────
const entry = join(tmp, "entry.mjs");
await build({
  entryPoints: [join(ROOT, "bench", "entry.ts")],
  outfile: entry,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  logLevel: "warning",
  // test/helpers/fixtures.ts finds the captures next to itself.
  define: {
    "import.meta.dirname": JSON.stringify(join(ROOT, "test", "helpers")),
    __LIFEBOAT_VERSION__: '"bench"',
  },
  banner: { js: "import{createRequire as __r}from'node:module';const require=__r(import.meta.url);" },
});
{
  const out = spawnSync(process.execPath, [entry, "parse"], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(out.stderr);
  results.parse = JSON.parse(out.stdout);
}

async function apiRun(args, path) {
  const port = await freePort();
  const { child } = await startProcess([...args, String(port)]);
  await cannon(`http://127.0.0.1:${port}${path}`, { duration: 1 }); // warm-up
  const r = await cannon(`http://127.0.0.1:${port}${path}`, { duration: API_SECONDS });
  await stop(child);
  return {
    requestsPerSec: r.requests.average,
    p99Ms: r.latency.p99,
    p50Ms: r.latency.p50,
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}
const agentApi = await apiRun([entry, "serve-fake"], "/v1/status");
const hello = await apiRun([join(ROOT, "bench", "hello.mjs")], "/");
results.api = {
  connections: CONNECTIONS,
  seconds: API_SECONDS,
  status: agentApi,
  helloWorld: hello,
  ratio: agentApi.requestsPerSec / hello.requestsPerSec,
};
results.notes.push(
  "API: /v1/status of the agent on the recording fake (real captures of the `single` case, production settings: info logs, 3 s detection cache) vs a fastify hello-world; both in their own process, autocannon in this one",
);
results.vmMount = null;
results.notes.push(
  "VM mount time vs a shell script: not measured by this command (needs the QEMU lab, test/vm)",
);

results.machine.loadAvgAfter = loadavg()[0];
rmSync(tmp, { recursive: true, force: true });
writeFileSync(join(ROOT, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);

// ── table ────────────────────────────────────────────────────────────────────────────────────────
const f = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const rows = [
  [
    "bundle size (dist/lifeboat.mjs)",
    `${f(results.bundle.bytes / 1024)} KiB (${f(results.bundle.gzipBytes / 1024)} KiB gzip)`,
    "",
  ],
  [
    `start → /healthz 200 (median of ${RUNS})`,
    `${f(results.startup.agentHealthzMs, 1)} ms`,
    `${f(results.startup.ratio, 1)}× node -e 0 (${f(results.startup.nodeE0Ms, 1)} ms)`,
  ],
  ["RSS after start", `${f(results.rss.afterStartBytes / MB, 1)} MiB`, ""],
  [
    "RSS after 10k /v1/status",
    `${f(results.rss.after10kStatusBytes / MB, 1)} MiB`,
    `${f(results.rss.statusRequests)} requests, ${results.rss.non2xx} non-2xx, ${results.rss.errors} errors`,
  ],
  [
    "parse zfs list -H -p (100k datasets)",
    `${f(results.parse.zfsListHp.rowsPerSec)} rows/s`,
    `${f(results.parse.zfsListHp.ms, 1)} ms for ${f(results.parse.zfsListHp.bytes / MB, 1)} MiB`,
  ],
  [
    "parse zfs list -j (100k datasets)",
    `${f(results.parse.zfsListJ.rowsPerSec)} rows/s`,
    `${f(results.parse.zfsListJ.ms, 1)} ms for ${f(results.parse.zfsListJ.bytes / MB, 1)} MiB`,
  ],
  [
    "GET /v1/status (fake-backed)",
    `${f(agentApi.requestsPerSec)} req/s, p99 ${f(agentApi.p99Ms)} ms`,
    `${f(results.api.ratio * 100)} % of hello-world`,
  ],
  [
    "fastify hello-world",
    `${f(hello.requestsPerSec)} req/s, p99 ${f(hello.p99Ms)} ms`,
    `${CONNECTIONS} connections, ${API_SECONDS} s`,
  ],
  ["VM mount vs shell script", "n/a", "needs the QEMU lab (test/vm)"],
];
const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
console.log(
  `\nLifeboat bench — node ${process.version}, ${results.machine.cpus} × ${results.machine.cpu}, load average ${f(results.machine.loadAvgBefore, 1)} → ${f(results.machine.loadAvgAfter, 1)}\n`,
);
console.log(line(["figure", "value", "context"]));
console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
console.log(`\nwritten: bench/results.json`);
