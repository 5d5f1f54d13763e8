import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HELP_TEXTS } from "../../agent/src/help.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DIST = join(ROOT, "dist", "lifeboat.mjs");
let fresh = "";

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-bundle-"));
  fresh = join(dir, "lifeboat.mjs");
  await execa("node", [join(ROOT, "agent", "build.mjs"), fresh]);
}, 120_000);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

describe("the single-file bundle", () => {
  it("committed dist/lifeboat.mjs is exactly a fresh build of the source (the flake packages it)", async () => {
    const committed = readFileSync(DIST);
    const built = readFileSync(fresh);
    expect(committed.equals(built), "dist/lifeboat.mjs is stale: run `npm run build` and commit it").toBe(
      true,
    );
  });

  it("is one minified ESM file with a shebang, no native addons, no runtime file lookups", async () => {
    const text = await readFile(fresh, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(text).not.toMatch(/\.node["']/);
    expect(text).not.toMatch(/__dirname|import\.meta\.dirname/);
    expect(text).not.toMatch(/new [A-Za-z$_]+\([^)]*workerData|thread-stream-worker|pino-worker/);
    expect((await stat(fresh)).size).toBeLessThan(3 * 1024 * 1024);
    // Built-ins are required, never imported as ESM (agent/build.mjs: an ESM import builds the
    // module's facade, which reads every export at start); the banner's node:module is the one.
    expect(text.match(/\bfrom\s*["']node:[\w/]+["']/g)).toEqual(["from'node:module'"]);
  });

  it("carries neither ajv, @fastify/swagger nor yaml; no schema compiler or inject machinery at all", async () => {
    // Written by agent/build.mjs for the build above: every input file and its bytes in the bundle.
    const inputs = Object.keys(
      JSON.parse(
        await readFile(join(ROOT, "node_modules", ".cache", "lifeboat", "bundle-inputs.json"), "utf8"),
      ),
    );
    const from = (pkg: string) => inputs.filter((f) => f.includes(`node_modules/${pkg}/`));
    for (const pkg of [
      "ajv",
      "ajv-formats",
      "yaml",
      "@fastify/swagger",
      "@fastify/ajv-compiler",
      "@fastify/fast-json-stringify-compiler",
      "light-my-request",
    ])
      expect(from(pkg), pkg).toEqual([]);
    // fast-json-stringify's serializer generator stays (responses are written by schema), its ajv bridge does not.
    expect(from("fast-json-stringify").some((f) => f.endsWith("/index.js"))).toBe(true);
    expect(from("fast-json-stringify").some((f) => f.endsWith("/lib/validator.js"))).toBe(false);
    // Left out as well (agent/bundle-stubs.mjs, agent/src/metrics, agent/src/http/typebox.ts say why):
    // prom-client's index (every other metric type, @opentelemetry/api), TypeBox's Type object,
    // TypeBox's transform codecs, fastify's plugin-version check (semver) and its trustProxy support
    // (proxy-addr, ipaddr.js), fast-json-stringify's projection (Node 25+).
    for (const pkg of [
      "@opentelemetry/api",
      "tdigest",
      "bintrees",
      "semver",
      "@fastify/proxy-addr",
      "ipaddr.js",
    ])
      expect(from(pkg), pkg).toEqual([]);
    expect(from("prom-client").some((f) => f.endsWith("prom-client/index.js"))).toBe(false);
    expect(from("prom-client").some((f) => f.endsWith("/lib/gauge.js"))).toBe(true);
    expect(from("@sinclair/typebox").some((f) => f.endsWith("/type/type/type.mjs"))).toBe(false);
    expect(from("@sinclair/typebox").some((f) => f.endsWith("/value/transform/decode.mjs"))).toBe(false);
    // One checker: TypeBox's Check (which Convert and Default use too), not also its code generator.
    expect(from("@sinclair/typebox").some((f) => f.endsWith("/compiler/compiler.mjs"))).toBe(false);
    expect(from("@sinclair/typebox").some((f) => f.endsWith("/value/check/check.mjs"))).toBe(true);
    expect(from("fast-json-stringify").some((f) => f.endsWith("/lib/projection.js"))).toBe(false);
  });

  it("is its own decoder worker: started as one, it reads an initrd and answers, nothing else runs", async () => {
    const { Worker } = await import("node:worker_threads");
    const bytes = readFileSync(join(ROOT, "test", "fixtures", "diagnosis", "systemd-zstd.initrd"));
    const options = { workerData: { lifeboat: "decoder", job: { kind: "initrd", bytes } }, stdout: true };
    const w = new Worker(new URL(`file://${fresh}`), options);
    let printed = "";
    w.stdout.on("data", (b: Buffer) => {
      printed += b.toString();
    });
    const reply = await new Promise<{ ok?: { stage1: string; loaded: string[] } }>((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    });
    await w.terminate();
    expect(reply.ok).toMatchObject({ stage1: "systemd", loaded: ["vfio_pci", "vfio"] });
    expect(printed).toBe("");
  });

  it("--version and --help", async () => {
    const v = await execa("node", [fresh, "--version"]);
    expect(v.stdout).toMatch(/^lifeboat \d+\.\d+\.\d+/);
    const h = await execa("node", [fresh, "--help"]);
    expect(h.stdout).toContain("--auto-mount");
    // Every help text, packed in the bundle (agent/build.mjs), prints exactly as written.
    expect(h.stdout).toBe(HELP_TEXTS.agent.trimEnd());
    for (const [cmd, name] of [
      ["client", "client"],
      ["collect", "collect"],
      ["banner", "banner"],
    ] as const)
      expect((await execa("node", [fresh, cmd, "--help"])).stdout, cmd).toBe(HELP_TEXTS[name].trimEnd());
    const bad = await execa("node", [fresh, "--auto-mount", "maybe"], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("off|readonly|readwrite");
    expect(bad.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  });

  describe("running on this machine", () => {
    let child: ReturnType<typeof spawn> | null = null;
    let out = "";
    let port = 0;
    let dir = "";
    afterAll(() => {
      child?.kill("SIGTERM");
    });

    it("starts, generates a 0600 token, answers /healthz and /v1/status (zfs may be unavailable)", async () => {
      dir = await mkdtemp(join(tmpdir(), "lifeboat-run-"));
      port = await freePort();
      const tokenFile = join(dir, "sub", "token");
      child = spawn(
        "node",
        [fresh, "--listen", `127.0.0.1:${port}`, "--token-file", tokenFile, "--root", join(dir, "mnt")],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
      });
      child.stderr?.on("data", (b: Buffer) => {
        out += b.toString();
      });
      // Wait for the "listening" log line: a signal, not a sleep.
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`agent did not start:\n${out}`)), 20_000);
        const check = () => {
          if (out.includes('"msg":"listening"')) {
            clearTimeout(t);
            resolve();
          } else setTimeout(check, 25);
        };
        check();
      });
      const st = await stat(tokenFile);
      expect(st.mode & 0o777).toBe(0o600);
      const token = (await readFile(tokenFile, "utf8")).trim();
      expect(Buffer.from(token, "base64url").length).toBeGreaterThanOrEqual(16);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await health.json()).toMatchObject({ ok: true });
      expect((await fetch(`http://127.0.0.1:${port}/v1/status`)).status).toBe(401);
      const status = await fetch(`http://127.0.0.1:${port}/v1/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(status.status).toBe(200);
      const body = await status.json();
      expect(["nothing-found", "found"]).toContain(body.phase);
      // fastify's warnings (shortened in the bundle: agent/bundle-stubs.mjs) are for uses it has none of
      expect(out).not.toMatch(/FastifyWarning|FST(WRN|SEC|DEP)\d/);
      expect(typeof body.zfs.available).toBe("boolean");
      if (!body.zfs.available) expect(body.zfs.reason).toBeTruthy();
      // The prebuilt OpenAPI document, and validation without ajv, from the bundle itself.
      const doc = await fetch(`http://127.0.0.1:${port}/openapi.json`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(doc.status).toBe(200);
      const openapi = await doc.json();
      expect(openapi.openapi).toBe("3.1.0");
      expect(Object.keys(openapi.paths)).toContain("/v1/status");
      // The schemas' prose is in the document (the bundle's code has none: agent/bundle-schema-prose.mjs).
      expect(openapi.paths["/v1/status"].get.summary).toMatch(/^Where the rescue stands/);
      expect(JSON.stringify(openapi.components)).toContain('"description":"');
      expect(openapi.components.responses.Problem).toBeDefined();
      // The web page, kept deflated in the bundle and inflated for this first request; its inline
      // script is the one the Content-Security-Policy allows by hash.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? "";
      expect(script.length).toBeGreaterThan(1000);
      const sha = createHash("sha256").update(script, "utf8").digest("base64");
      expect(page.headers.get("content-security-policy")).toContain(`script-src 'sha256-${sha}'`);
      const bad = await fetch(`http://127.0.0.1:${port}/v1/plan?readonly=maybe`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get("content-type")).toContain("application/problem+json");
      expect((await bad.json()).code).toBe("validation-failed");
      // A JSON body goes through fastify's content-type parser (and its FifoMap cache, from
      // toad-cache's ES module build: agent/bundle-stubs.mjs) before validation.
      for (let i = 0; i < 2; i++) {
        const body = await fetch(`http://127.0.0.1:${port}/v1/mount`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json; charset=utf-8" },
          body: JSON.stringify({ readonly: "maybe" }),
        });
        expect(body.status).toBe(400);
        expect((await body.json()).code).toBe("validation-failed");
      }
      // The token is printed to a terminal only, never into the (journald) log stream.
      expect(out).not.toContain(token);
    }, 60_000);
  });
});
