/**
 * Bench helper, bundled by bench/run.mjs with esbuild (so the bench runs on plain node):
 *   node entry.mjs serve-fake PORT   the agent's HTTP server on the recording fake (real captures)
 *   node entry.mjs parse             parse throughput of 100,000-dataset listings, as JSON on stdout
 */
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import pino from "pino";
import { createServices } from "../agent/src/app/services.js";
import { parseZfsGet, parseZfsListHp } from "../agent/src/core/zfs.js";
import { buildServer } from "../agent/src/http/server.js";
import { REDACT_PATHS } from "../agent/src/logger.js";
import { FakeSystem } from "../test/helpers/fake-system.js";
import { FIXTURES, fakeConfig, sandbox } from "../test/helpers/fixtures.js";

export const TOKEN = "bench-token-0123456789abcdef";

async function serveFake(port: number): Promise<void> {
  const devnull = new Writable({ write: (_c, _e, cb) => cb() });
  // Production settings: info logging (to nowhere), the default 3 s detection cache.
  const log = pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, devnull);
  const sys = new FakeSystem(fakeConfig("single", await sandbox()));
  const services = createServices(sys, log, {
    root: "/mnt",
    version: "bench",
    autoMount: "off",
    urls: () => [`http://127.0.0.1:${port}/`],
  });
  const app = await buildServer({ token: TOKEN, logger: log, services });
  await app.listen({ host: "127.0.0.1", port });
  process.stdout.write("ready\n");
}

const ROWS = 100_000;

/** Median of `n` timed runs of `fn`, in ms. */
function median(n: number, fn: () => unknown): number {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(n / 2)] as number;
}

function parse(): void {
  // `zfs list -H -p`: the real capture's rows, replicated under distinct names.
  const rows = readFileSync(`${FIXTURES}/single/zfs-list-Hp.stdout`, "utf8").trim().split("\n");
  const hp: string[] = [];
  for (let i = 0; hp.length < ROWS; i++)
    for (const r of rows) if (hp.length < ROWS) hp.push(r.replace(/^nvmepool/, `nvmepool/b${i}`));
  const hpText = `${hp.join("\n")}\n`;
  // `zfs list -j`: the real capture's datasets object, replicated the same way.
  const doc = JSON.parse(readFileSync(`${FIXTURES}/single/zfs-list-j.stdout`, "utf8")) as {
    datasets: Record<string, { name: string }>;
  };
  const proto = Object.values(doc.datasets);
  const datasets: Record<string, unknown> = {};
  for (let i = 0, n = 0; n < ROWS; i++)
    for (const d of proto) {
      if (n++ >= ROWS) break;
      const name = d.name.replace(/^nvmepool/, `nvmepool/b${i}`);
      datasets[name] = { ...d, name };
    }
  const jText = JSON.stringify({ ...doc, datasets });
  if (parseZfsListHp(hpText).length !== ROWS || parseZfsGet(jText).size !== ROWS)
    throw new Error("bench input does not parse to 100,000 datasets");
  const hpMs = median(5, () => parseZfsListHp(hpText));
  const jMs = median(5, () => parseZfsGet(jText));
  process.stdout.write(
    `${JSON.stringify({
      rows: ROWS,
      zfsListHp: { bytes: hpText.length, ms: hpMs, rowsPerSec: ROWS / (hpMs / 1000) },
      zfsListJ: { bytes: jText.length, ms: jMs, rowsPerSec: ROWS / (jMs / 1000) },
    })}\n`,
  );
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === "serve-fake") await serveFake(Number(arg));
else if (cmd === "parse") parse();
else {
  process.stderr.write("usage: entry.mjs serve-fake PORT | parse\n");
  process.exit(2);
}
