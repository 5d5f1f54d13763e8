import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { RUNS_INSTALLED_CODE } from "../../agent/src/core/notices.js";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import type { OutputLine } from "../../agent/src/system/system.js";
import { LogSink, type RigOptions, rig } from "../app/harness.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

const TOKEN = "rescue-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);
let open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.map((a) => a.close()));
  open = [];
});

async function mountedServer(opts: RigOptions = {}) {
  const r = await rig("single", opts);
  const logs = new LogSink();
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs),
    services: r.services,
  });
  open.push(app);
  recordResponses(app);
  const m = await app.inject({
    method: "POST",
    url: "/v1/mount",
    headers: auth,
    payload: { readonly: false },
  });
  expect(m.statusCode).toBe(200);
  return { app, r, logs };
}

describe("rescue routes over HTTP", () => {
  it("generations, boot, kernel params, revert, default", async () => {
    const { app } = await mountedServer();
    const gens = (await app.inject({ url: "/v1/generations", headers: auth })).json();
    expect(gens.generations.map((g: { number: number }) => g.number)).toEqual([3, 2, 1]);
    const boot = (await app.inject({ url: "/v1/boot", headers: auth })).json();
    expect(boot.loader).toBe("systemd-boot");
    const kp = await app.inject({
      method: "POST",
      url: "/v1/boot/entries/nixos-generation-3/kernel-params",
      headers: auth,
      payload: { add: ["module_blacklist=vfio_pci"] },
    });
    expect(kp.statusCode).toBe(200);
    expect(kp.json().result.after).toContain("module_blacklist=vfio_pci");
    expect(kp.json().snapshot).toMatch(/^nvmepool@lifeboat-/);
    const bad = await app.inject({
      method: "POST",
      url: "/v1/boot/entries/nixos-generation-3/kernel-params",
      headers: auth,
      payload: { add: ["two words"] },
    });
    expect(bad.statusCode).toBe(400);
    expect(
      (
        await app.inject({
          method: "POST",
          url: "/v1/boot/entries/nixos-generation-3/revert",
          headers: auth,
          payload: {},
        })
      ).statusCode,
    ).toBe(200);
    const def = await app.inject({
      method: "POST",
      url: "/v1/boot/default",
      headers: auth,
      payload: { generation: 2 },
    });
    expect(def.json().result.default).toBe("nixos-generation-2.conf");
  });

  it("config: ETag header, If-Match conflict → 412, missing If-Match → 428, traversal refused", async () => {
    const { app } = await mountedServer();
    expect(
      (await app.inject({ url: "/v1/config", headers: auth }))
        .json()
        .files.map((f: { path: string }) => f.path),
    ).toContain("configuration.nix");
    const got = await app.inject({ url: "/v1/config/configuration.nix", headers: auth });
    const etag = got.headers.etag as string;
    expect(etag).toBe(got.json().etag);
    const put = await app.inject({
      method: "PUT",
      url: "/v1/config/configuration.nix",
      headers: { ...auth, "if-match": etag },
      payload: { content: "{ }\n" },
    });
    expect(put.statusCode).toBe(200);
    const again = await app.inject({
      method: "PUT",
      url: "/v1/config/configuration.nix",
      headers: { ...auth, "if-match": etag },
      payload: { content: "{ x }\n" },
    });
    expect(again.statusCode).toBe(412);
    expect(again.json().code).toBe("precondition-failed");
    expect(
      (
        await app.inject({
          method: "PUT",
          url: "/v1/config/configuration.nix",
          headers: auth,
          payload: { content: "x" },
        })
      ).statusCode,
    ).toBe(428);
    for (const url of [
      "/v1/config/../../etc/shadow",
      "/v1/config/..%2F..%2Fetc%2Fshadow",
      "/v1/config/%2e%2e/passwd",
    ]) {
      const res = await app.inject({ url, headers: auth });
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, url).toBeLessThan(500);
    }
  });

  it("rebuild → 202 job; SSE log streams past and live lines then `end` (over a real socket)", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const lines: OutputLine[] = Array.from({ length: 5 }, (_, i) => ({
      stream: "stdout",
      text: `line ${i}`,
    }));
    const { app } = await mountedServer({
      fake: { spawnScript: () => ({ lines, exitCode: 0 }) },
      reach: async (urls) => {
        await gate;
        return urls.map((url) => ({
          url,
          host: "cache.nixos.org",
          dns: "192.0.2.1",
          http: 200,
          error: null,
          ms: 1,
        }));
      },
    });
    const res = await app.inject({
      method: "POST",
      url: "/v1/rebuild",
      headers: auth,
      payload: { action: "boot", flake: "/etc/nixos#atlas" },
    });
    expect(res.statusCode).toBe(202);
    const job = res.json().job;
    expect(job.state).toBe("running");
    // what the operator accepted: the installed system's own code runs as root (issue 10)
    expect(res.json().notice).toBe(RUNS_INSTALLED_CODE);
    expect(
      (
        await app.inject({
          method: "POST",
          url: "/v1/boot/default",
          headers: auth,
          payload: { generation: 1 },
        })
      ).statusCode,
    ).toBe(409);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const stream = await fetch(`http://127.0.0.1:${port}/v1/jobs/${job.id}/log`, { headers: auth });
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    release();
    const text = await stream.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => [
      m[1],
      JSON.parse(m[2] as string),
    ]);
    expect(events.filter(([e]) => e === "line").map(([, d]) => d.text)).toEqual(
      expect.arrayContaining([
        "line 0",
        "line 4",
        "network: https://cache.nixos.org reachable (cache.nixos.org → 192.0.2.1, HTTP 200, 1 ms)",
      ]),
    );
    expect(events.at(-1)).toEqual(["end", { state: "succeeded", exitCode: 0 }]);
    // Reconnect with Last-Event-ID: only what came after.
    const resume = await (
      await fetch(`http://127.0.0.1:${port}/v1/jobs/${job.id}/log`, {
        headers: { ...auth, "last-event-id": "3" },
      })
    ).text();
    expect(resume).not.toContain("id: 3\n");
    expect(resume).toContain("id: 4\n");
    expect((await app.inject({ url: `/v1/jobs/${job.id}`, headers: auth })).json().state).toBe("succeeded");
    expect(
      (await app.inject({ url: "/v1/jobs/00000000-0000-4000-8000-000000000000", headers: auth })).statusCode,
    ).toBe(404);
    expect((await app.inject({ url: "/v1/audit", headers: auth })).json().entries.length).toBeGreaterThan(0);
  });

  it("snapshots, export, reboot", async () => {
    const { app, r } = await mountedServer();
    const snap = await app.inject({ method: "POST", url: "/v1/snapshots", headers: auth, payload: {} });
    expect(snap.json().snapshot).toMatch(/^nvmepool@lifeboat-/);
    expect(
      (await app.inject({ url: "/v1/snapshots", headers: auth })).json().snapshots.length,
    ).toBeGreaterThan(0);
    const name = snap.json().snapshot.split("@")[1];
    expect(
      (
        await app.inject({
          method: "POST",
          url: `/v1/snapshots/${name}/rollback`,
          headers: auth,
          payload: {},
        })
      ).json().code,
    ).toBe("confirm-mismatch");
    const reboot = await app.inject({
      method: "POST",
      url: "/v1/reboot",
      headers: auth,
      payload: { export: true },
    });
    expect(reboot.json()).toMatchObject({ rebooting: true, exported: ["nvmepool"] });
    expect(r.sys.imported.size).toBe(0);
  });
});
