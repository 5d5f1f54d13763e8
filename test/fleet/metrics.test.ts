import { execFileSync, spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { closeAll, METRICS_TOKEN, startAgent } from "./rig.js";

// GET /metrics: prom-client's exposition, checked by Prometheus' own parser (promtool).

afterEach(closeAll);

const promtool = spawnSync("promtool", ["--version"]).status === 0;
const TOKEN = "api-token-metrics-0123456789-SECRET";

async function scrape(url: string, token?: string) {
  const r = await fetch(`${url}metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
}

const value = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("GET /metrics", () => {
  it("the API token or the read-only metrics token opens it; the metrics token opens nothing else", async () => {
    const a = await startAgent({ token: TOKEN, metricsToken: METRICS_TOKEN });
    expect((await scrape(a.url)).status).toBe(401);
    expect((await scrape(a.url, "wrong-token-0123456789abcdef")).status).toBe(401);
    const byApi = await scrape(a.url, TOKEN);
    expect(byApi.status).toBe(200);
    expect(byApi.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await scrape(a.url, METRICS_TOKEN)).status).toBe(200);
    for (const path of ["v1/status", "v1/pools", "openapi.json"]) {
      const r = await fetch(`${a.url}${path}`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(r.status, path).toBe(401);
      await r.text();
    }
    const post = await fetch(`${a.url}v1/mount`, {
      method: "POST",
      headers: { authorization: `Bearer ${METRICS_TOKEN}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(post.status).toBe(401);
    await post.text();
  });

  it("without a metrics token only the API token opens it", async () => {
    const a = await startAgent({ token: TOKEN });
    expect((await scrape(a.url, METRICS_TOKEN)).status).toBe(401);
    expect((await scrape(a.url, TOKEN)).status).toBe(200);
  });

  it("phase, pools and health, mounts, jobs and durations, last detection age, phone home", async () => {
    const a = await startAgent({ token: TOKEN, mountRw: true, callback: { url: "http://127.0.0.1:9" } });
    // A job (a failing rebuild step on the fake) so that job metrics have something to show.
    const job = await a.r.services.rebuild.start({ action: "build" }, "test");
    await a.r.services.jobs.wait(job.id);
    const m = (await scrape(a.url, TOKEN)).text;
    expect(value(m, 'lifeboat_phase{phase="mounted-rw"}')).toBe(1);
    expect(value(m, 'lifeboat_phase{phase="found"}')).toBe(0);
    expect(value(m, 'lifeboat_pool_health{pool="nvmepool",state="ONLINE",imported="true"}')).toBe(1);
    expect(value(m, 'lifeboat_pool_unhealthy_vdevs{pool="nvmepool"}')).toBe(0);
    expect(value(m, 'lifeboat_mounts{mode="rw"}')).toBeGreaterThanOrEqual(4);
    expect(value(m, 'lifeboat_mounts{mode="ro"}')).toBe(0);
    expect(value(m, "lifeboat_busy")).toBe(0);
    expect(value(m, "lifeboat_last_detection_age_seconds")).toBeGreaterThanOrEqual(0);
    const jobState = (await a.r.services.jobs.get(job.id)).state;
    expect(value(m, `lifeboat_jobs{state="${jobState}"}`)).toBe(1);
    expect(m).toMatch(
      new RegExp(
        `lifeboat_job_duration_seconds\\{job_id="${job.id}",kind="rebuild",state="${jobState}"\\} [0-9.e-]+`,
      ),
    );
    expect(m).toMatch(/lifeboat_callback_failed_attempts \d+/);
  });

  it.skipIf(!promtool)(
    "promtool check metrics accepts the output (found, mounted read-only, mounted read-write)",
    async () => {
      for (const o of [{}, { mountRo: true }, { mountRw: true }]) {
        const a = await startAgent({ token: TOKEN, ...o, callback: { url: "http://127.0.0.1:9" } });
        const text = (await scrape(a.url, TOKEN)).text;
        // promtool exits non-zero on a parse error or a lint problem, printing it.
        const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
        expect(`${r.stdout}${r.stderr}`, JSON.stringify(o)).toBe("");
        expect(r.status, JSON.stringify(o)).toBe(0);
      }
    },
  );

  it.skipIf(promtool)(
    "promtool check metrics (skipped: promtool is not installed; apt-get install prometheus)",
    () => {
      expect(() => execFileSync("promtool", ["--version"])).toThrow();
    },
  );
});
