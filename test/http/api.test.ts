import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { FailureLimiter, tokenMatches } from "../../agent/src/http/auth.js";
import { buildServer, PUBLIC_PATHS } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { LogSink, type Rig, rig } from "../app/harness.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

const TOKEN = "test-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);

async function server(kase = "single", r?: Rig, limiter?: FailureLimiter) {
  const rr = r ?? (await rig(kase));
  const logs = new LogSink();
  const logger = pino({ level: "trace", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs);
  const app = await buildServer({
    token: TOKEN,
    logger,
    limiter,
    services: rr.services,
  });
  recordResponses(app);
  return { app, rig: rr, logs };
}

let open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.map((a) => a.close()));
  open = [];
});

function routesOf(app: Awaited<ReturnType<typeof server>>["app"]): { method: string; url: string }[] {
  // Enumerate the route table, so a new route cannot slip past the auth test.
  const out: { method: string; url: string }[] = [];
  const text = app.printRoutes({ commonPrefix: false, includeHooks: false });
  const lines = text.split("\n");
  const stack: string[] = [];
  for (const line of lines) {
    const m = /^([│ ]*)(?:[└├]── )(.*?) \(([^)]*)\)$/.exec(line) ?? /^([│ ]*)(?:[└├]── )(.*)$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? "").length / 4;
    stack.length = depth;
    stack[depth] = m[2] as string;
    if (m[3])
      for (const method of m[3].split(", ")) if (method !== "HEAD") out.push({ method, url: stack.join("") });
  }
  return out;
}

describe("auth", () => {
  it("every route but /healthz refuses without a valid token (enumerated from the route table)", async () => {
    const { app } = await server("single", undefined, new FailureLimiter(1_000, 60_000));
    open.push(app);
    await app.ready();
    const routes = routesOf(app);
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const r of routes) {
      const url = r.url.replace(":pool", "nvmepool").replace(":device", "nvme0n1p2");
      for (const headers of [
        {},
        { authorization: "Bearer wrong-token-wrong-token" },
        { authorization: TOKEN },
      ]) {
        const res = await app.inject({
          method: r.method as "GET",
          url,
          headers,
          payload: r.method === "POST" ? {} : undefined,
        });
        if (PUBLIC_PATHS.includes(url) && r.method === "GET") expect(res.statusCode, url).toBe(200);
        else {
          expect(res.statusCode, `${r.method} ${url}`).toBe(401);
          expect(res.headers["content-type"]).toContain("application/problem+json");
          expect(res.json().code).toBe("unauthorized");
        }
      }
    }
  });

  it("token compare is by digest (any length, constant time)", () => {
    expect(tokenMatches("abc", "abc")).toBe(true);
    expect(tokenMatches("abc", "abcd")).toBe(false);
    expect(tokenMatches("abc", undefined)).toBe(false);
  });

  it("repeated failures are rate-limited with 429 and Retry-After", async () => {
    const { app } = await server("single", undefined, new FailureLimiter(3, 60_000));
    open.push(app);
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: "/v1/status" })).statusCode).toBe(401);
    for (const headers of [{}, { authorization: "Bearer wrong-token-wrong-token" }]) {
      const res = await app.inject({ url: "/v1/status", headers });
      expect(res.statusCode).toBe(429);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      expect(res.json().code).toBe("rate-limited");
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    }
  });

  it("a valid token is never refused, however many failures came from the same address (SSH tunnel)", async () => {
    // Behind `ssh -L`, every operator and every typo arrives from 127.0.0.1 (inject's address too).
    const { app } = await server("single", undefined, new FailureLimiter(3, 60_000));
    open.push(app);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++)
        expect([401, 429]).toContain(
          (await app.inject({ url: "/v1/status", headers: { authorization: "Bearer typo" } })).statusCode,
        );
      const ok = await app.inject({ url: "/v1/status", headers: auth });
      expect(ok.statusCode, `round ${round}`).toBe(200);
      // And a success does not reset the count for the address: the next typo is still 429.
      expect((await app.inject({ url: "/v1/status" })).statusCode).toBe(429);
    }
  });
});

describe("FailureLimiter (sliding window, failures only)", () => {
  it("limits past N failures in the window, slides, and bounds what it keeps per address", () => {
    let now = 1_000_000;
    const l = new FailureLimiter(3, 60_000, () => now);
    const verdicts = [1, 2, 3, 4, 5].map(() => l.fail("127.0.0.1"));
    expect(verdicts.map((v) => v.limited)).toEqual([false, false, false, true, true]);
    expect(verdicts.map((v) => v.crossed)).toEqual([false, false, false, true, false]);
    expect(verdicts[3]?.retryAfter).toBe(60);
    // Another address is not affected.
    expect(l.fail("192.0.2.7").limited).toBe(false);
    // The window slides: a minute after the last failure, the address starts over.
    now += 60_001;
    expect(l.fail("127.0.0.1")).toMatchObject({ limited: false, crossed: false });
    // Half a minute later two more fill the window; the next one is limited, and as failures while
    // limited count too, it can retry once the newest `limit` failures have left the window.
    now += 30_000;
    l.fail("127.0.0.1");
    l.fail("127.0.0.1");
    now += 10_000;
    const v = l.fail("127.0.0.1");
    expect(v).toMatchObject({ limited: true, crossed: true });
    expect(v.retryAfter).toBe(50);
  });
});

describe("read routes", () => {
  it("status, disks, pools, plan on the seed's server", async () => {
    const { app } = await server();
    open.push(app);
    const st = await app.inject({ url: "/v1/status", headers: auth });
    expect(st.statusCode).toBe(200);
    expect(st.json()).toMatchObject({
      phase: "found",
      zfs: { available: true },
      hostid: { live: "00bab10c" },
      mounted: null,
      pools: { importable: ["nvmepool"] },
    });
    expect(st.json().candidates[0]).toMatchObject({ id: "zfs:nvmepool", kind: "zfs", pool: "nvmepool" });
    expect(st.json().tls).toBeNull();
    // How old the detection behind the answer is (readers get the last one at once).
    expect(st.json().detection).toEqual({
      at: st.json().detectedAt,
      ageMs: expect.any(Number),
      refreshing: false,
    });
    const disks = await app.inject({ url: "/v1/disks", headers: auth });
    expect(disks.json().esps).toEqual([
      expect.objectContaining({ device: "/dev/nvme0n1p1", evidence: "parttype" }),
    ]);
    const pools = await app.inject({ url: "/v1/pools", headers: auth });
    expect(pools.json().importable[0]).toMatchObject({
      name: "nvmepool",
      id: "6816711904690617069",
      lastAccessedByOtherSystem: true,
    });
    const plan = await app.inject({ url: "/v1/plan", headers: auth });
    expect(plan.json()).toMatchObject({ candidate: "zfs:nvmepool", readonly: true, complete: false });
    expect(plan.json().steps[0]).toMatchObject({
      kind: "import-pool",
      pool: "nvmepool",
      readonly: true,
      altroot: "/mnt",
    });
    const ds = await app.inject({ url: "/v1/pools/nvmepool/datasets", headers: auth });
    expect(ds.statusCode).toBe(409);
    expect(ds.json().code).toBe("not-mounted");
  });

  it("degraded pool: status warns with the missing vdev named", async () => {
    const { app } = await server("degraded");
    open.push(app);
    const st = (await app.inject({ url: "/v1/status", headers: auth })).json();
    expect(st.warnings.join("\n")).toContain("nvme-QEMU_NVMe_Ctrl_VMLAB1-part1 (UNAVAIL)");
  });

  it("openapi.json documents every route", async () => {
    const { app } = await server();
    open.push(app);
    const doc = (await app.inject({ url: "/openapi.json", headers: auth })).json();
    expect(doc.openapi).toBe("3.1.0");
    for (const p of [
      "/v1/status",
      "/v1/disks",
      "/v1/pools",
      "/v1/pools/{pool}/datasets",
      "/v1/plan",
      "/v1/mount",
      "/v1/unmount",
      "/v1/pools/{pool}/load-key",
      "/v1/luks/{device}/open",
    ])
      expect(Object.keys(doc.paths), p).toContain(p);
  });
});

describe("actions over HTTP", () => {
  it("mount → status mounted-ro → datasets → unmount+export", async () => {
    const { app } = await server();
    open.push(app);
    const m = await app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: {} });
    expect(m.statusCode).toBe(200);
    expect(m.json()).toMatchObject({
      result: "mounted",
      readonly: true,
      hostid: { action: "adopted", lastHost: "atlas" },
    });
    expect((await app.inject({ url: "/v1/status", headers: auth })).json().phase).toBe("mounted-ro");
    const ds = await app.inject({ url: "/v1/pools/nvmepool/datasets", headers: auth });
    expect(ds.json().datasets.map((d: { name: string }) => d.name)).toContain("nvmepool/root");
    const u = await app.inject({
      method: "POST",
      url: "/v1/unmount",
      headers: auth,
      payload: { export: true },
    });
    expect(u.json()).toMatchObject({ exported: ["nvmepool"] });
  });

  it("a mount without a body works (defaults read-only)", async () => {
    const { app } = await server();
    open.push(app);
    const m = await app.inject({ method: "POST", url: "/v1/mount", headers: auth });
    expect(m.statusCode).toBe(200);
    expect(m.json().readonly).toBe(true);
  });

  it("pool in use elsewhere → 409 problem naming the host; failure bodies carry no stack", async () => {
    const { app } = await server();
    open.push(app);
    const res = await app.inject({
      method: "POST",
      url: "/v1/mount",
      headers: auth,
      payload: { adoptHostId: false },
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({
      code: "pool-in-use-elsewhere",
      lastHost: "atlas",
      status: 409,
      type: "urn:lifeboat:problem:pool-in-use-elsewhere",
    });
    expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it("concurrent mutating requests: exactly one runs, the other gets 409 busy", async () => {
    const { app } = await server();
    open.push(app);
    const [a, b] = await Promise.all([
      app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: {} }),
      app.inject({ method: "POST", url: "/v1/unmount", headers: auth, payload: {} }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409]);
    expect([a, b].find((x) => x.statusCode === 409)?.json().code).toBe("busy");
  });

  it("bad input: unknown fields, wrong types, bad JSON, bad params, huge bodies → 4xx problem+json", async () => {
    const { app } = await server();
    open.push(app);
    const cases = [
      { method: "POST", url: "/v1/mount", payload: { readonly: "yes please" } },
      { method: "POST", url: "/v1/mount", payload: { rm: "-rf" } },
      {
        method: "POST",
        url: "/v1/mount",
        payload: "{not json",
        headers: { "content-type": "application/json" },
      },
      { method: "POST", url: "/v1/pools/..%2F..%2Fetc/load-key", payload: { passphrase: "x" } },
      { method: "POST", url: "/v1/pools/nvmepool/load-key", payload: {} },
      { method: "POST", url: "/v1/luks/$(reboot)/open", payload: { passphrase: "x" } },
      { method: "POST", url: "/v1/unmount", payload: { export: true, extra: 1 } },
      {
        method: "POST",
        url: "/v1/mount",
        payload: JSON.stringify({ pool: "x".repeat(400_000) }),
        headers: { "content-type": "application/json" },
      },
      { method: "GET", url: "/v1/plan?readonly=maybe" },
      { method: "GET", url: "/v1/nope" },
    ] as const;
    for (const c of cases) {
      const res = await app.inject({
        method: c.method,
        url: c.url,
        payload: "payload" in c ? c.payload : undefined,
        headers: { ...auth, ...("headers" in c ? c.headers : {}) },
      });
      expect(res.statusCode, `${c.method} ${c.url}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${c.method} ${c.url}`).toBeLessThan(500);
      expect(res.headers["content-type"], c.url).toContain("application/problem+json");
      const body = res.json();
      expect(typeof body.code, c.url).toBe("string");
      expect(res.body).not.toMatch(/node_modules|at [A-Za-z.]+ \(/);
    }
  });

  it("passphrases and the token never reach logs or responses", async () => {
    const r = await rig("encrypted");
    const { app, logs } = await server("encrypted", r);
    open.push(app);
    const locked = await app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: {} });
    expect(locked.statusCode).toBe(409);
    expect(locked.json().code).toBe("key-not-loaded");
    const wrong = await app.inject({
      method: "POST",
      url: "/v1/pools/nvmepool/load-key",
      headers: auth,
      payload: { passphrase: "wrongpassphrase" },
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().code).toBe("wrong-passphrase");
    const right = await app.inject({
      method: "POST",
      url: "/v1/pools/nvmepool/load-key",
      headers: auth,
      payload: { passphrase: "correct-horse-battery" },
    });
    expect(right.statusCode).toBe(200);
    const mounted = await app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: {} });
    expect(mounted.statusCode).toBe(200);
    const all = [
      logs.text,
      r.logs.text,
      locked.body,
      wrong.body,
      right.body,
      mounted.body,
      JSON.stringify(r.sys.calls),
    ].join("\n");
    for (const secret of ["correct-horse-battery", "wrongpassphrase", TOKEN])
      expect(all).not.toContain(secret);
    expect(logs.lines.length).toBeGreaterThan(4);
  });
});

describe("degraded mounts over HTTP: skipped entries in the mount result and the status; read-write needs them acknowledged", () => {
  it("an fstab line through a link out: 200 read-only with it skipped; read-write 409 skipped-entries until acceptSkipped names it", async () => {
    const { mkdir, symlink } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { ZFS_FSTAB } = await import("../helpers/fixtures.js");
    const fstab = `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B /srv/data vfat umask=0077 0 2\n`;
    const r = await rig("single", { tree: { fstab } });
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    const { app } = await server("single", r);
    open.push(app);
    const ro = await app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: {} });
    expect(ro.statusCode, ro.body).toBe(200);
    expect(ro.json().skipped).toEqual([
      expect.objectContaining({ kind: "fstab", path: "/srv/data", source: "/dev/nvme0n1p1" }),
    ]);
    expect(ro.json().pools).toEqual([expect.objectContaining({ pool: "nvmepool", importedBecause: "root" })]);
    const st = (await app.inject({ url: "/v1/status", headers: auth })).json();
    expect(st.skipped.map((e: { path: string }) => e.path)).toEqual(["/srv/data"]);
    expect(st.systemPools).toEqual([expect.objectContaining({ pool: "nvmepool", importedBecause: "root" })]);

    const rw = await app.inject({
      method: "POST",
      url: "/v1/mount",
      headers: auth,
      payload: { readonly: false },
    });
    expect(rw.statusCode, rw.body).toBe(409);
    expect(rw.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(rw.json()).toMatchObject({
      code: "skipped-entries",
      skipped: [{ path: "/srv/data", kind: "fstab" }],
    });
    const ok = await app.inject({
      method: "POST",
      url: "/v1/mount",
      headers: auth,
      payload: { readonly: false, acceptSkipped: ["/srv/data"] },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ readonly: false, skipped: [{ path: "/srv/data" }] });
    const un = await app.inject({ method: "POST", url: "/v1/unmount", headers: auth, payload: {} });
    expect(un.statusCode).toBe(200);
    expect((await app.inject({ url: "/v1/status", headers: auth })).json().skipped).toEqual([]);
  });
});
