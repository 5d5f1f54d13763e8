/**
 * Bounded load tests on loopback (a few seconds each): autocannon with many connections against
 * the fake-backed agent's /v1/status and the SSE job-log endpoint, plus many live SSE followers
 * of one running job. Asserted: 0 errors, 0 timeouts, 0 non-2xx, every follower gets every line
 * and the end event, and memory stays bounded (a second run of the same load does not grow RSS
 * by more than a generous margin). No timing thresholds: rates are printed, not asserted
 * (published figures come from `npm run bench`).
 */
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureLimiter } from "../../agent/src/http/auth.js";
import { type App, buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import type { OutputLine } from "../../agent/src/system/system.js";
import { type RigOptions, rig } from "../app/harness.js";

interface CannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  requests: { average: number; total: number };
  latency: { p99: number; average: number };
}
type Autocannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const TOKEN = "load-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
const MB = 1024 * 1024;

/** Production log level, written nowhere (a LogSink would itself grow with every request). */
const devnull = new Writable({ write: (_c, _e, cb) => cb() });

async function listening(opts: RigOptions = {}, mount = false): Promise<{ app: App; url: string }> {
  const r = await rig("single", opts);
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, devnull),
    limiter: new FailureLimiter(),
    services: r.services,
  });
  if (mount) {
    const m = await app.inject({
      method: "POST",
      url: "/v1/mount",
      headers: auth,
      payload: { readonly: false },
    });
    expect(m.statusCode).toBe(200);
  }
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, url: `http://127.0.0.1:${port}` };
}

function cannon(url: string, connections: number, duration: number): Promise<CannonResult> {
  return autocannon({ url, connections, duration, headers: auth, timeout: 10 });
}

function expectClean(r: CannonResult, what: string): void {
  expect(r.errors, `${what}: connection errors`).toBe(0);
  expect(r.timeouts, `${what}: timeouts`).toBe(0);
  expect(r.non2xx, `${what}: non-2xx responses`).toBe(0);
  expect(r["2xx"], `${what}: no request completed`).toBeGreaterThan(0);
}

const open: App[] = [];
afterAll(async () => {
  await Promise.all(open.map((a) => a.close()));
});

describe("GET /v1/status under load (fake-backed, authenticated)", () => {
  it("100 connections, twice 2 s: 0 errors, 0 non-2xx, RSS bounded between the runs", async () => {
    const { app, url } = await listening();
    open.push(app);
    await cannon(`${url}/v1/status`, 10, 1); // warm-up: JIT, detection cache, sockets
    const first = await cannon(`${url}/v1/status`, 100, 2);
    expectClean(first, "run 1");
    const rss1 = process.memoryUsage().rss;
    const second = await cannon(`${url}/v1/status`, 100, 2);
    expectClean(second, "run 2");
    const rss2 = process.memoryUsage().rss;
    console.info(
      `status: ${first.requests.total + second.requests.total} requests, ~${Math.round(second.requests.average)} req/s, p99 ${second.latency.p99} ms; RSS ${Math.round(rss1 / MB)} → ${Math.round(rss2 / MB)} MB`,
    );
    // A leak of even 1 KiB per request would add tens of MB over a run; this bounds it loosely.
    expect(rss2 - rss1, "RSS growth over a second identical run").toBeLessThan(96 * MB);
  });
});

describe("SSE job log under load", () => {
  const LINES = 200;
  let release: () => void = () => undefined;
  let app: App;
  let url = "";
  let jobId = "";

  beforeAll(async () => {
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const lines: OutputLine[] = Array.from({ length: LINES }, (_, i) => ({
      stream: "stdout",
      text: `line ${i}`,
    }));
    ({ app, url } = await listening(
      {
        fake: { spawnScript: () => ({ lines, exitCode: 0 }) },
        reach: async (urls) => {
          await gate;
          return urls.map((u) => ({
            url: u,
            host: "cache.nixos.org",
            dns: "192.0.2.1",
            http: 200,
            error: null,
            ms: 1,
          }));
        },
      },
      true,
    ));
    open.push(app);
    const res = await app.inject({
      method: "POST",
      url: "/v1/rebuild",
      headers: auth,
      payload: { action: "boot", flake: "/etc/nixos#atlas" },
    });
    expect(res.statusCode).toBe(202);
    jobId = res.json().job.id;
  });

  it("200 live followers of one running job: each gets every line and the end event", async () => {
    const followers = Array.from({ length: 200 }, async () => {
      const res = await fetch(`${url}/v1/jobs/${jobId}/log`, { headers: auth });
      expect(res.status).toBe(200);
      return res.text();
    });
    // Let every follower subscribe before the job produces its output.
    await new Promise((r) => setTimeout(r, 300));
    release();
    const texts = await Promise.all(followers);
    for (const t of texts) {
      const lines = [...t.matchAll(/^event: line$/gm)].length;
      expect(lines).toBeGreaterThanOrEqual(LINES);
      expect(t).toMatch(/event: end\ndata: \{"state":"succeeded","exitCode":0\}/);
    }
    console.info(`SSE: ${texts.length} followers × ${LINES}+ lines, all ended`);
  });

  it("autocannon on the finished job's log (replay + end), 50 connections, 2 s: 0 errors, 0 non-2xx", async () => {
    const r = await cannon(`${url}/v1/jobs/${jobId}/log`, 50, 2);
    expectClean(r, "SSE replay");
    console.info(`SSE replay: ~${Math.round(r.requests.average)} streams/s, p99 ${r.latency.p99} ms`);
  });
});
