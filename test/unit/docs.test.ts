import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { errorStatus } from "../../agent/src/core/errors.js";
import { buildServer } from "../../agent/src/http/server.js";
import { rig } from "../app/harness.js";

// The operator reads docs/api.md and docs/operator-guide.md at 3 a.m.: every route the server
// serves, every problem code it answers with and every client command must be in them.

const repo = join(import.meta.dirname, "..", "..");
const read = (p: string) => readFile(join(repo, p), "utf8");
const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const TOKEN = "docs-test-token-0123456789abcdef0123456789abcdef";
let close: (() => Promise<unknown>) | null = null;
afterAll(async () => {
  await close?.();
});

/** "METHOD /path" of every operation in the OpenAPI document the server builds. */
async function operations(): Promise<string[]> {
  const r = await rig("single");
  const app = await buildServer({ token: TOKEN, logger: pino({ level: "silent" }), services: r.services });
  close = () => app.close();
  const res = await app.inject({ url: "/openapi.json", headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.statusCode).toBe(200);
  const doc = res.json() as { paths: Record<string, Record<string, unknown>> };
  const out: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths))
    for (const method of Object.keys(ops))
      if (["get", "post", "put", "delete", "patch"].includes(method))
        // The configuration files' wildcard is written {path} in the docs.
        out.push(`${method.toUpperCase()} ${path.replace(/\{\*\}|\*$/, "{path}")}`);
  return out;
}

/** The commands `lifeboat client` dispatches (the `case` labels of its dispatch switch). */
async function clientCommands(): Promise<string[]> {
  const src = await read("agent/src/client/main.ts");
  const start = src.indexOf("async function dispatch(");
  const end = src.indexOf("\n}\n", start);
  if (start < 0 || end < 0) throw new Error("agent/src/client/main.ts lost its dispatch function");
  return [...src.slice(start, end).matchAll(/^\s+case "([a-z-]+)":/gm)].map((m) => m[1] as string);
}

/** The client's options (its VALUED and BOOLEAN sets). */
async function clientFlags(): Promise<string[]> {
  const src = await read("agent/src/client/main.ts");
  const sets = [...src.matchAll(/const (?:VALUED|BOOLEAN) = new Set\(\[([\s\S]*?)\]\)/g)];
  if (sets.length !== 2) throw new Error("agent/src/client/main.ts lost its option sets");
  return sets.flatMap((m) => [...(m[1] as string).matchAll(/"(--[a-z-]+)"/g)].map((f) => f[1] as string));
}

describe("docs/api.md", () => {
  it("lists every route the server registers (from its OpenAPI document)", async () => {
    const api = await read("docs/api.md");
    const ops = await operations();
    expect(ops.length).toBeGreaterThan(30);
    // "GET /v1/pools" must not pass on "GET /v1/pools/{pool}/datasets": the path ends there.
    const missing = ops.filter((op) => !new RegExp(`${quote(op)}(?![A-Za-z0-9/{}_*-])`).test(api));
    expect(missing, "routes missing from docs/api.md").toEqual([]);
  });

  it("lists every problem code with its HTTP status", async () => {
    const api = await read("docs/api.md");
    const missing = Object.entries(errorStatus)
      .filter(([code, status]) => !new RegExp(`^\\| \`${quote(code)}\` \\| ${status} \\|`, "m").test(api))
      .map(([code, status]) => `${code} ${status}`);
    expect(missing, "problem codes missing from docs/api.md (or with another status)").toEqual([]);
  });
});

describe("docs/operator-guide.md", () => {
  it("shows every client command", async () => {
    const guide = await read("docs/operator-guide.md");
    const cmds = await clientCommands();
    expect(cmds).toContain("mount");
    expect(cmds).toContain("changes");
    const missing = cmds.filter((c) => !new RegExp(`lifeboat client ${quote(c)}(?![a-z-])`).test(guide));
    expect(missing, "client commands missing from docs/operator-guide.md").toEqual([]);
  });

  it("names every client option (the fleet options in docs/fleet.md)", async () => {
    const text = `${await read("docs/operator-guide.md")}\n${await read("docs/fleet.md")}`;
    const flags = await clientFlags();
    expect(flags).toContain("--accept-skipped");
    const missing = flags.filter((f) => !new RegExp(`${quote(f)}(?![a-z-])`).test(text));
    expect(missing, "client options missing from docs/operator-guide.md and docs/fleet.md").toEqual([]);
  });
});
