import { execFileSync } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keyIdOf, signBody } from "../../agent/src/core/fleet/sign.js";
import { closeAll, FLEET_KEY, startAgent, startCollector } from "./rig.js";

// Reports from several agents (recording fakes) to a collector, all on loopback.

afterEach(closeAll);

const wait = <T>(fn: () => T | Promise<T>, timeout = 10_000) => vi.waitFor(fn, { timeout, interval: 10 });

/** A stand-in collector that answers with the statuses given, in order (then 202), or never. */
async function flakyCollector(statuses: (number | "hang")[]) {
  const seen: { body: string; at: number }[] = [];
  const open = new Set<import("node:http").ServerResponse>();
  const srv: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      seen.push({ body, at: Date.now() });
      const s = statuses.shift() ?? 202;
      if (s === "hang") {
        open.add(res); // accepted, never answered
        return;
      }
      res.writeHead(s, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  return {
    url,
    seen,
    open,
    close: () =>
      new Promise<void>((r) => {
        for (const res of open) res.destroy();
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

describe("phone home to a collector", () => {
  it("three agents report; the collector verifies, lists, keeps the list on disk and serves http_sd, file_sd and the page", async () => {
    const c = await startCollector();
    const agents = await Promise.all(
      ["atlas", "hermes", "zeus"].map((name, i) =>
        startAgent({
          token: `api-token-${name}-0123456789-SECRET`,
          name,
          mountRo: i === 0,
          callback: { url: c.url },
        }),
      ),
    );
    await wait(() => expect(c.collector.hosts()).toHaveLength(3));
    const hosts = c.collector.hosts();
    const atlas = hosts.find((h) => h.name === "atlas");
    expect(atlas).toMatchObject({
      key: "name:atlas",
      phase: "mounted-ro",
      url: agents[0]?.url,
      keyId: keyIdOf(FLEET_KEY),
      tokenId: keyIdOf("api-token-atlas-0123456789-SECRET"),
      machineId: "4e94ca0830aecd9a467e26d22b49108a",
      problems: [],
    });
    expect(hosts.find((h) => h.name === "hermes")?.phase).toBe("found");
    // The phase changes: a new report (reason "phase") replaces the old one.
    await agents[1]?.r.mounts.mount({ readonly: false });
    await wait(() => expect(c.collector.hosts().find((h) => h.name === "hermes")?.phase).toBe("mounted-rw"));
    expect(c.collector.hosts().find((h) => h.name === "hermes")?.reason).toBe("phase");
    // On disk: the state file and the file_sd document.
    await c.collector.persist();
    const state = JSON.parse(await readFile(join(c.dir, "fleet.json"), "utf8"));
    expect(state.hosts).toHaveLength(3);
    const fileSd = JSON.parse(await readFile(join(c.dir, "sd.json"), "utf8"));
    expect(fileSd.map((g: { targets: string[] }) => g.targets[0]).sort()).toEqual(
      agents.map((a) => a.host).sort(),
    );
    const sd = await c.app.inject({ method: "GET", url: "/v1/sd" });
    expect(sd.json()).toEqual(fileSd);
    const page = await c.app.inject({ method: "GET", url: "/" });
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'none'/);
    for (const a of agents) expect(page.body).toContain(`href="${a.url}"`);
    expect(page.body).toContain("mounted-rw");
    // Nothing secret went anywhere: the key and tokens are registered, logs and bodies scanned.
    for (const a of agents) await wait(() => expect(a.logs.text).toContain("phone home: report sent"));
    expect(JSON.stringify(state)).not.toContain(FLEET_KEY);
  });

  it("a change that starts and ends between two ticks is still reported (the mounts moved)", async () => {
    const c = await startCollector();
    const a = await startAgent({
      token: "api-token-between-0123456789-SECRET",
      name: "quick",
      callback: { url: c.url },
      phone: { pollMs: 3_600_000, detectEveryMs: 3_600_000 },
    });
    await wait(() => expect(a.phone().stats.sent).toBe(1));
    await a.r.mounts.mount({ readonly: true }); // took and released the lock; no tick saw it busy
    await a.phone().tick();
    await wait(() => expect(c.collector.hosts()[0]?.phase).toBe("mounted-ro"));
    expect(c.collector.hosts()[0]?.reason).toBe("phase");
  });

  it("a FIFO or a huge file as the installed system's machine-id / hostname is skipped, never read", async () => {
    const c = await startCollector();
    const a = await startAgent({
      token: "api-token-fifo-0123456789-SECRET",
      mountRo: true,
      machine: { macs: ["52:54:00:12:34:56"] },
      callback: { url: c.url },
      prepare: async (root) => {
        await rm(join(root, "etc/machine-id"));
        execFileSync("mkfifo", [join(root, "etc/machine-id")]);
        await writeFile(join(root, "etc/hostname"), "x".repeat(1 << 20));
      },
    });
    await wait(() => expect(c.collector.hosts()).toHaveLength(1));
    expect(c.collector.hosts()[0]).toMatchObject({
      phase: "mounted-ro",
      machineId: null,
      name: "mac:52:54:00:12:34:56",
    });
    await wait(() => expect(a.phone().stats.sent).toBe(1));
  });

  it("a tampered, unsigned, wrongly keyed or replayed report is refused with problem+json", async () => {
    const c = await startCollector();
    const a = await startAgent({
      token: "api-token-tamper-0123456789-SECRET",
      name: "atlas",
      callback: { url: c.url },
    });
    await wait(() => expect(c.collector.hosts()).toHaveLength(1));
    // The report as the agent sent it (read back from the collector's file), then re-sent by "someone".
    await c.collector.persist();
    const state = JSON.parse(await readFile(join(c.dir, "fleet.json"), "utf8"));
    const body = JSON.stringify(state.hosts[0].report);
    const post = (b: string, headers: Record<string, string>) =>
      c.app.inject({
        method: "POST",
        url: "/v1/report",
        payload: b,
        headers: { "content-type": "application/json", ...headers },
      });
    const sign = (b: string, key = FLEET_KEY) => ({
      "x-lifeboat-signature": signBody(b, key),
      "x-lifeboat-key-id": keyIdOf(key),
    });

    const tampered = body.replace('"found"', '"mounted-rw"');
    const t = await post(tampered, sign(body));
    expect(t.statusCode).toBe(401);
    expect(t.headers["content-type"]).toMatch(/application\/problem\+json/);
    expect(t.json().code).toBe("unauthorized");
    expect((await post(body, {})).statusCode).toBe(401);
    expect((await post(body, sign(body, "some-other-key-0123456789abcdef"))).statusCode).toBe(401);
    const replay = await post(body, sign(body));
    expect(replay.statusCode).toBe(412);
    expect(replay.json().detail).toMatch(/replay/);
    const junk = await post('{"v":1}', sign('{"v":1}'));
    expect(junk.statusCode).toBe(400);
    expect(junk.json().code).toBe("validation-failed");
    expect(c.collector.hosts()[0]?.phase).toBe("found");
    await wait(() => expect(a.phone().stats.sent).toBe(1));
  });

  it("retries with backoff against a collector that fails, and delivers", async () => {
    const f = await flakyCollector([503, 500, 502]);
    try {
      const a = await startAgent({ token: "api-token-retry-0123456789-SECRET", callback: { url: f.url } });
      await wait(() => expect(a.phone().stats.sent).toBe(1));
      expect(f.seen).toHaveLength(4);
      expect(a.phone().stats.failedAttempts).toBe(3);
      // Every attempt carried the same signed report.
      expect(new Set(f.seen.map((s) => s.body)).size).toBe(1);
    } finally {
      await f.close();
    }
  });

  it("gives up after the bounded number of attempts, and a refused report is not retried", async () => {
    const f = await flakyCollector([503, 503, 503, 503, 503, 503, 503, 503]);
    try {
      const a = await startAgent({ token: "api-token-bounded-0123456789-SECRET", callback: { url: f.url } });
      await wait(() => expect(a.phone().stats.dropped).toBe(1));
      expect(f.seen).toHaveLength(4); // attempts: 4 in the rig's policy
      expect(a.phone().stats.sent).toBe(0);
      expect(a.logs.text).toContain("report not delivered");
    } finally {
      await f.close();
    }
    const g = await flakyCollector([401]);
    try {
      const b = await startAgent({ token: "api-token-refused-0123456789-SECRET", callback: { url: g.url } });
      await wait(() => expect(b.phone().stats.dropped).toBe(1));
      expect(g.seen).toHaveLength(1);
    } finally {
      await g.close();
    }
  });

  it("a collector that accepts and never answers does not slow the agent: its API answers meanwhile", async () => {
    const f = await flakyCollector(["hang", "hang", "hang", "hang"]);
    try {
      const a = await startAgent({
        token: "api-token-hang-0123456789-SECRET",
        callback: { url: f.url },
        phone: { timeoutMs: 60_000 },
      });
      await wait(() => expect(f.open.size).toBe(1)); // the report is stuck in the collector
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${a.url}v1/status`, { headers: { authorization: `Bearer ${a.token}` } });
        expect(r.status).toBe(200);
        await r.text();
      }
      const m = await a.r.mounts.mount({ readonly: true });
      expect(m.result).toBe("mounted");
      expect(f.open.size).toBe(1); // still stuck, never awaited by anything the API did
      expect(a.phone().stats.sent).toBe(0);
    } finally {
      await f.close();
    }
  });

  it("a hanging collector costs one timeout per attempt, then the attempts end", async () => {
    const f = await flakyCollector(["hang", "hang", "hang", "hang"]);
    try {
      const a = await startAgent({
        token: "api-token-timeout-0123456789-SECRET",
        callback: { url: f.url },
        phone: { timeoutMs: 50 },
      });
      await wait(() => expect(a.phone().stats.dropped).toBe(1));
      expect(f.seen).toHaveLength(4);
      expect(a.phone().stats.lastError).toMatch(/no answer within 50 ms/);
    } finally {
      await f.close();
    }
  });

  it("HTTPS to a self-signed collector: delivered when pinned; a wrong pin sends nothing", async () => {
    const c = await startCollector({ tls: true });
    const ok = await startAgent({
      token: "api-token-pinned-0123456789-SECRET",
      name: "pinned",
      callback: { url: c.url, fingerprint: c.fingerprint },
    });
    await wait(() => expect(ok.phone().stats.sent).toBe(1));
    expect(c.collector.hosts().map((h) => h.name)).toEqual(["pinned"]);
    const before = c.requests();
    const wrong = await startAgent({
      token: "api-token-wrongpin-0123456789-SECRET",
      name: "wrongpin",
      callback: { url: c.url, fingerprint: Array.from({ length: 32 }, () => "00").join(":") },
    });
    await wait(() => expect(wrong.phone().stats.dropped).toBe(1));
    expect(wrong.phone().stats.lastError).toMatch(/fingerprint mismatch/);
    expect(c.requests()).toBe(before); // not one request reached the collector
    // Without a pin, the system CAs are asked, and they do not know a self-signed certificate.
    const unpinned = await startAgent({
      token: "api-token-unpinned-0123456789-SECRET",
      callback: { url: c.url },
    });
    await wait(() => expect(unpinned.phone().stats.dropped).toBe(1));
    expect(unpinned.phone().stats.lastError).toMatch(/self.signed|certificate/i);
  });
});
