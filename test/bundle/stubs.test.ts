/**
 * The stubs of agent/bundle-stubs.mjs (dependency code the agent never runs, cut from
 * dist/lifeboat.mjs) change nothing on the paths the agent takes: test/bundle/commands-entry.ts runs
 * commands through RealSystem with every execa option the agent uses, bundled as the agent is
 * (agent/bundle-options.mjs) once with the stubs and once without, and both print the same. The
 * paths cut off throw the stub's error instead of running.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_OPTIONS } from "../../agent/bundle-options.mjs";
import { FASTIFY_WARNINGS, STUBS, stubs } from "../../agent/bundle-stubs.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
let dir = "";
type Line = { name: string; value: unknown };
const results: Record<"stubbed" | "real", Line[]> = { stubbed: [], real: [] };
const inputs: Record<"stubbed" | "real", string[]> = { stubbed: [], real: [] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lifeboat-stubs-"));
  await Promise.all(
    (["stubbed", "real"] as const).map(async (kind) => {
      const outfile = join(dir, `${kind}.mjs`);
      const r = await build({
        ...BUNDLE_OPTIONS,
        metafile: true,
        plugins: kind === "stubbed" ? [stubs] : [],
        entryPoints: [join(ROOT, "test", "bundle", "commands-entry.ts")],
        outfile,
      });
      // The files of which some code is in the bundle (a stub's is "stub:" and its path).
      inputs[kind] = Object.entries(Object.values(r.metafile?.outputs ?? {})[0]?.inputs ?? {})
        .filter(([f, { bytesInOutput }]) => bytesInOutput > 0 && !f.startsWith("stub:"))
        .map(([f]) => f);
      const run = await execa("node", [outfile], { reject: false, env: { NODE_DEBUG: "" } });
      if (run.exitCode !== 0) throw new Error(`${kind}: ${run.stderr}`);
      results[kind] = run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Line);
    }),
  );
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the bundle's stubs", () => {
  it("run every command the agent's way exactly as the real dependencies do", () => {
    const agentPaths = (kind: "stubbed" | "real") => results[kind].filter((l) => l.name !== "not taken");
    expect(agentPaths("stubbed").length).toBeGreaterThanOrEqual(13);
    expect(agentPaths("stubbed")).toEqual(agentPaths("real"));
    // A few of the figures, so that "equal" is not equal nonsense.
    const got = Object.fromEntries(agentPaths("stubbed").map((l) => [l.name, l.value]));
    expect(got["exit code, both streams, final newline kept"]).toMatchObject({
      exitCode: 3,
      stdout: "a\nb\n",
      stderr: "err",
    });
    expect(got["input on stdin"]).toMatchObject({ stdout: "line1\nline2\n" });
    expect(got["env added to the agent's, LC_ALL=C"]).toMatchObject({ stdout: "x y|C|home\n" });
    expect(got["not found"]).toMatchObject({ notFound: true });
    expect(got.timeout).toMatchObject({ timedOut: true, exitCode: 124 });
    expect(got["a large output, whole"]).toBe(3_000_000);
    expect(got["spawn: killed"]).toMatchObject({ signal: "SIGTERM" });
    if (got.jailed === undefined) {
      expect(got["jailed: maxBuffer"]).toMatchObject({ truncated: true });
      expect(got["jailed: deadline (SIGKILL)"]).toMatchObject({ timedOut: true });
      expect(got["jailed spawn: output cap"]).toMatchObject({ truncated: true });
    }
  });

  it("throw on the paths the agent never takes, which run without them", () => {
    const notTaken = (kind: "stubbed" | "real") => results[kind].find((l) => l.name === "not taken")?.value;
    const stubbed = notTaken("stubbed") as Record<string, string>;
    expect(Object.keys(stubbed).length).toBeGreaterThanOrEqual(9);
    for (const [what, how] of Object.entries(stubbed)) expect(how, what).toBe("stub");
    const real = notTaken("real") as Record<string, string>;
    expect(Object.keys(real)).toEqual(Object.keys(stubbed));
    for (const [what, how] of Object.entries(real)) expect(how, what).not.toBe("stub");
  });

  it("leave execa's other methods, IPC, verbose mode, pipes, streams and transforms out", () => {
    const execaFiles = (kind: "stubbed" | "real") =>
      inputs[kind]
        .filter((f) => f.includes("node_modules/execa/lib/"))
        .map((f) => f.replace(/.*\/lib\//, ""));
    const kept = execaFiles("stubbed");
    for (const gone of [
      /^methods\/(main-sync|template|command|script)\.js$/,
      /^ipc\/(send|get-one|get-each|validation|forward|graceful)\.js$/,
      /^verbose\/(log|default|start|complete|output)\.js$/,
      /^pipe\//,
      /^convert\//,
      /^transform\/(normalize|generator|split|run-async)\.js$/,
      /(main|output|input|handle|exit|all)-sync\.js$/,
    ])
      expect(
        kept.filter((f) => gone.test(f)),
        String(gone),
      ).toEqual([]);
    expect(execaFiles("real").filter((f) => f.startsWith("ipc/")).length).toBeGreaterThan(5);
    for (const pkg of ["cross-spawn", "which", "npm-run-path", "pretty-ms", "yoctocolors", "figures"])
      expect(
        inputs.stubbed.filter((f) => f.includes(`node_modules/${pkg}/`)),
        pkg,
      ).toEqual([]);
  });
});

/** The .js files of a package (not its tests), as [path under node_modules, text]; `ext`: other files. */
function sources(pkg: string, ext = /\.(c|m)?js$/): [string, string][] {
  const base = join(ROOT, "node_modules", pkg);
  return readdirSync(base, { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f) && !/(^|\/)(test|node_modules|types|benchmarks|examples|docs)\//.test(f))
    .map((f) => [`${pkg}/${f}`, readFileSync(join(base, f), "utf8")]);
}

describe("the reasons the stubs give still hold in the installed dependencies", () => {
  it("fastify takes only FifoMap from toad-cache", () => {
    const uses = sources("fastify").flatMap(([f, text]) =>
      [...text.matchAll(/const (\{[^}]*\}|\w+) = require\('toad-cache'\)/g)].map((m) => `${f}: ${m[1]}`),
    );
    expect(uses).toEqual([
      "fastify/lib/content-type-parser.js: { FifoMap: Fifo }",
      "fastify/lib/content-type.js: { FifoMap: Fifo }",
    ]);
    expect(sources("fastify").filter(([, text]) => text.includes("toad-cache")).length).toBe(2);
  });

  it("fastify's warnings: the stub has every one the installed fastify exports, each emitted with its code", async () => {
    const text = readFileSync(join(ROOT, "node_modules", "fastify", "lib", "warnings.js"), "utf8");
    const exported = /module\.exports = \{([^}]*)\}/
      .exec(text)?.[1]
      ?.split(",")
      .map((n) => n.trim())
      .filter(Boolean);
    expect(exported).toEqual(FASTIFY_WARNINGS);
    const entry = STUBS.find(([what]) => what.test("./lib/warnings.js"));
    if (!entry) throw new Error("no stub for fastify's warnings");
    const mod = { exports: {} as Record<string, (...a: string[]) => void> };
    const emitted: string[][] = [];
    new Function("module", "process", (entry[2] as (fail: string) => string)(""))(mod, {
      emitWarning: (...a: string[]) => emitted.push(a),
    });
    expect(Object.keys(mod.exports)).toEqual(FASTIFY_WARNINGS);
    mod.exports.FSTWRN001?.("body", "POST", "/x");
    expect(emitted).toEqual([["FSTWRN001 body POST /x", "FastifyWarning", "FSTWRN001"]]);
  });

  it("fastify's option validator: the stub gives both servers' options what the generated one gives", () => {
    const entry = STUBS.find(
      ([what, by]) => what.test("./config-validator") && by === "/node_modules/fastify/",
    );
    if (!entry) throw new Error("no stub for fastify's config-validator");
    const stub = { exports: {} as ((o: object) => boolean) & { defaultInitOptions?: object } };
    new Function("module", (entry[2] as (fail: string) => string)(""))(stub);
    const req = createRequire(import.meta.url);
    const real = req(join(ROOT, "node_modules", "fastify", "lib", "config-validator.js"));
    expect(stub.exports.defaultInitOptions).toEqual(real.defaultInitOptions);
    const f = () => undefined;
    // what fastify.js hands the validator for each server: the options given to Fastify()
    // (agent/src/http/server.ts, agent/src/collector/server.ts) with the values fastify sets first
    const set = {
      connectionTimeout: 0,
      keepAliveTimeout: 72000,
      maxRequestsPerSocket: 0,
      requestTimeout: 0,
      logger: { info: f },
      requestIdHeader: false,
      ajv: { customOptions: {}, plugins: [] },
      clientErrorHandler: f,
      allowErrorHandlerOverride: true,
    };
    const agent = {
      loggerInstance: { info: f },
      logController: { info: f },
      childLoggerFactory: f,
      bodyLimit: 256 * 1024,
      schemaController: { compilersFactory: f },
      trustProxy: false,
      frameworkErrors: f,
      ...set,
    };
    const collector = {
      loggerInstance: { info: f },
      bodyLimit: 64 * 1024,
      schemaController: { compilersFactory: f },
      trustProxy: false,
      ...set,
    };
    for (const options of [agent, collector]) {
      const a = { ...options };
      const b = { ...options };
      expect(real(a)).toBe(true);
      expect(stub.exports(b)).toBe(true);
      expect(b).toEqual(a);
    }
  });

  it("pino uses its multistream only in its transports' worker", () => {
    const uses = sources("pino")
      .filter(([f, text]) => f !== "pino/lib/multistream.js" && /multistream\(/.test(text))
      .map(([f]) => f);
    expect(uses).toEqual(["pino/lib/worker.js"]);
    expect(readFileSync(join(ROOT, "agent", "src", "logger.ts"), "utf8")).not.toContain("multistream");
  });

  it("fastify compiles find-my-way's routes only when asked (routerOptions.compile), and the agent does not ask", () => {
    const calls = sources("fastify").flatMap(([f, text]) =>
      [...text.matchAll(/^.*\.compile(Routes)?\(\).*$/gm)].map((m) => `${f}: ${m[0].trim()}`),
    );
    expect(calls).toEqual([
      "fastify/fastify.js: router.compileRoutes()",
      "fastify/fastify.js: fourOhFour.router.compile()",
      "fastify/lib/route.js: // router.compile() replaces router.lookup",
      "fastify/lib/route.js: compileRoutes: () => router.compile(),",
    ]);
    const fastifyJs = readFileSync(join(ROOT, "node_modules", "fastify", "fastify.js"), "utf8");
    expect(fastifyJs).toMatch(
      /if \(options\.routerOptions\.compile === true\) \{\s*router\.compileRoutes\(\)/,
    );
    for (const server of ["http/server.ts", "collector/server.ts"])
      expect(readFileSync(join(ROOT, "agent", "src", server), "utf8"), server).not.toMatch(/\bcompile\s*:/);
  });

  it("fast-json-stringify merges schemas only for what compilers.ts refuses ($ref siblings, allOf, unions, if)", () => {
    const text = readFileSync(join(ROOT, "node_modules", "fast-json-stringify", "index.js"), "utf8");
    let fn = "";
    const callers: string[] = [];
    for (const line of text.split("\n")) {
      fn = /^(?:async )?function (\w+)/.exec(line)?.[1] ?? fn;
      if (/\bmerge(Locations|Schemas)\(/.test(line) && !/^function/.test(line)) callers.push(fn);
    }
    expect([...new Set(callers)]).toEqual([
      "resolveRef",
      "mergeLocations",
      "buildAllOf",
      "buildOneOf",
      "buildIfThenElse",
    ]);
    expect(text).toMatch(/if \(Object\.keys\(siblingSchema\)\.length !== 0\)/);
  });

  it("TypeBox hashes values only for uniqueItems (which compilers.ts refuses)", () => {
    const esm = "@sinclair/typebox/build/esm";
    const users = sources(esm)
      .filter(([f, text]) => /\bHash\(/.test(text) && !f.includes("/value/hash/"))
      .map(([f]) => f.slice(esm.length + 1));
    expect(users.sort()).toEqual(["compiler/compiler.mjs", "errors/errors.mjs", "value/check/check.mjs"]);
    for (const f of ["errors/errors.mjs", "value/check/check.mjs"]) {
      const text = readFileSync(join(ROOT, "node_modules", esm, f), "utf8");
      expect(text.match(/\bHash\(/g), f).toHaveLength(1);
      expect(text, f).toMatch(
        /if \(schema\.uniqueItems === true && !\(\(function \(\) \{ const set = new Set\(\); for \(const element of value\) \{\s*const hashed = Hash\(element\);/,
      );
    }
    const compiler = readFileSync(join(ROOT, "node_modules", esm, "compiler/compiler.mjs"), "utf8");
    expect(compiler.match(/\bhash\(element\)/g)).toHaveLength(1);
    expect(compiler).toMatch(
      /if \(schema\.uniqueItems === true\) \{\s*const check = `const hashed = hash\(element\)/,
    );
  });

  it("find-my-way, the one user of fast-querystring in the bundle, only parses", () => {
    const users = ["fastify", "find-my-way", "avvio", "pino", "fast-json-stringify", "execa"].flatMap((pkg) =>
      sources(pkg)
        .filter(([, text]) => text.includes("fast-querystring"))
        .map(([f, text]) => [f, [...text.matchAll(/querystring\.(\w+)/g)].map((m) => m[1])] as const),
    );
    expect(users).toEqual([["find-my-way/index.js", ["parse"]]]);
  });

  it("pino needs on-exit-leak-free only for an asynchronous destination; the agent's is synchronous", () => {
    const tools = readFileSync(join(ROOT, "node_modules", "pino", "lib", "tools.js"), "utf8");
    expect(tools.match(/onExit\.\w+\(/g)).toEqual(["onExit.register(", "onExit.unregister("]);
    expect(tools).toMatch(/if \(!opts\.sync && isMainThread\) \{\s*onExit\.register\(stream, autoEnd\)/);
    const logger = readFileSync(join(ROOT, "agent", "src", "logger.ts"), "utf8");
    expect(logger).toContain("pino.destination({ dest: 1, sync: true })");
    expect(logger.match(/pino\.destination\(/g)).toHaveLength(1);
    // …and it is the agent's one logger (no other pino() with pino's default destination).
    const calls = sources("../agent/src", /\.ts$/)
      .filter(([, text]) => /\bpino\(/.test(text))
      .map(([f]) => f);
    expect(calls).toEqual(["../agent/src/logger.ts"]);
  });

  it("get-stream ponyfills async iteration only for a ReadableStream without it; Node's has it", () => {
    const stream = readFileSync(join(ROOT, "node_modules", "get-stream", "source", "stream.js"), "utf8");
    expect(stream.match(/asyncIterator\.call\(/g)).toHaveLength(1);
    expect(stream.indexOf("typeof stream?.[Symbol.asyncIterator] === 'function'")).toBeLessThan(
      stream.indexOf("asyncIterator.call("),
    );
    expect(typeof (new ReadableStream() as unknown as Record<symbol, unknown>)[Symbol.asyncIterator]).toBe(
      "function",
    );
  });
});
