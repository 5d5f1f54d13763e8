// Bundle the agent into ONE file: dist/lifeboat.mjs (minified ESM with a shebang, no runtime lookups).
// Usage: node agent/build.mjs [outfile]
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { brotliCompressSync, constants } from "node:zlib";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "./bundle-options.mjs";
import { qrcodeTrim } from "./bundle-qrcode.mjs";
import { schemaProse } from "./bundle-schema-prose.mjs";
import { stubs } from "./bundle-stubs.mjs";
import { buildPage } from "./src/ui/build-page.mjs";

const here = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
const outfile = process.argv[2] ?? `${here}dist/lifeboat.mjs`;
const cache = `${here}node_modules/.cache/lifeboat`;
mkdirSync(cache, { recursive: true });

// Text kept compressed in the bundle (the OpenAPI document, the web page): brotli at its best
// setting (~12% smaller than deflate -9 for these), as base64; `unpacked` is the expression that
// gives the text back, with zlib loaded only then (the bundle's `require`), not at start.
const packed = (text) =>
  brotliCompressSync(text, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: Buffer.byteLength(text),
    },
  }).toString("base64");
const unpacked = (b64) =>
  `require("node:zlib").brotliDecompressSync(Buffer.from(${JSON.stringify(b64)}, "base64")).toString("utf8")`;

// Code paths of dependencies the agent never takes are replaced by stubs that throw if ever called:
// agent/bundle-stubs.mjs lists them, each with the reason it is unreachable. The API schemas' prose
// is in the prebuilt OpenAPI document only (agent/bundle-schema-prose.mjs).

// The OpenAPI document is generated at build time by the real server with @fastify/swagger
// (agent/prebuild.ts, which also compiles every route schema once, so a bad one fails the build
// instead of a first request) and kept compressed in the bundle: the generated module takes the
// place of agent/src/http/openapi-source.ts, so neither swagger nor its `yaml` is bundled, and
// nothing is done for the document until someone asks for it.
async function prebuiltOpenApi() {
  // Per-process names: builds may run side by side (tests, the VM lab, the bench).
  const script = `${cache}/prebuild-${process.pid}.mjs`;
  const out = `${cache}/openapi-${process.pid}.json`;
  await build({
    entryPoints: [`${here}agent/prebuild.ts`],
    outfile: script,
    bundle: true,
    packages: "external",
    platform: "node",
    target: "node20",
    format: "esm",
    logLevel: "warning",
    define: { __LIFEBOAT_VERSION__: JSON.stringify(pkg.version) },
  });
  const run = spawnSync(process.execPath, [script, out], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`agent/prebuild.ts failed:\n${run.stderr}`);
  const doc = packed(readFileSync(out, "utf8"));
  rmSync(script, { force: true });
  rmSync(out, { force: true });
  const contents = [
    `let text = null;`,
    `export const openApiSource = {`,
    `  register: async () => undefined,`,
    `  document: () => (text ??= ${unpacked(doc)}),`,
    `};`,
  ].join("\n");
  return {
    name: "lifeboat-prebuilt-openapi",
    setup(b) {
      b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]http[\\/]openapi-source\.ts$/ }, () => ({
        loader: "js",
        contents,
      }));
    },
  };
}

// The web page (agent/src/ui) is built first and kept in the bundle compressed, like the OpenAPI
// document (42 KB of text as ~17 KB of base64): unpacked when the page is first asked for (and
// assembled once, agent/src/http/routes/ui.ts).
const page = packed(JSON.stringify(await buildPage()));
const inlinePage = {
  name: "lifeboat-page",
  setup(b) {
    b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]ui[\\/]page\.ts$/ }, () => ({
      loader: "js",
      contents: `export const loadPage = () => JSON.parse(${unpacked(page)});`,
    }));
  },
};

// The command-line help texts (agent/src/help.ts, ~6 KB of prose), kept compressed the same way and
// unpacked when one is first printed: the module is replaced with one that holds them packed.
async function packedHelp() {
  const out = await build({
    entryPoints: [`${here}agent/src/help.ts`],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    logLevel: "warning",
  });
  const code = out.outputFiles[0]?.text ?? "";
  const { HELP_TEXTS } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  const contents = [
    "let texts = null;",
    `export const help = (name) => (texts ??= JSON.parse(${unpacked(packed(JSON.stringify(HELP_TEXTS)))}))[name];`,
  ].join("\n");
  return {
    name: "lifeboat-help",
    setup(b) {
      b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]help\.ts$/ }, () => ({ loader: "js", contents }));
    },
  };
}

// Node's built-in modules are loaded with `require` (the bundle's, from node:module), as the
// CommonJS packages in the bundle (fastify, pino) load them, not with ESM `import`: an ESM import of
// a built-in makes Node build the module's ESM facade, which reads EVERY export once, getters
// included, at start: node:process's stdin/stdout/stderr streams, allowedNodeEnvironmentFlags and
// report; node:tls's rootCertificates (~140 root certificates parsed into strings); node:fs's
// promises… (~0.9 MB of heap for nothing). Each built-in becomes a module of the bundle whose named
// exports are read from the required module when it is first evaluated, and only those some code
// imports (the others are pure and dropped): the same values, read once, as with the facade.
// Built-ins the agent needs only on paths it may never take, of which only plain functions are
// imported: required on their first call (v8's serialize, for execa's IPC, which also loads
// worker_threads; zlib for initrds and diagnosis; readline for the client's prompt; dns for the
// reachability check). Importing anything else from them (a class, a constant, the default
// export) fails the build.
const LAZY_BUILTINS = new Set(["node:v8", "node:zlib", "node:readline", "node:dns/promises"]);
const nodeRequire = createRequire(import.meta.url);
const builtinsByRequire = {
  name: "lifeboat-builtins-by-require",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === "import-statement" && args.namespace !== "builtin"
        ? { path: args.path, namespace: "builtin" }
        : { path: args.path, external: true },
    );
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => {
      const real = nodeRequire(args.path);
      const names = Object.keys(real).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
      if (LAZY_BUILTINS.has(args.path))
        return {
          loader: "js",
          contents: [
            `let m = null;`,
            `const mod = () => (m ??= require(${JSON.stringify(args.path)}));`,
            ...names
              .filter((n) => typeof real[n] === "function" && !/^[A-Z]/.test(n))
              .map((n) => `export const ${n} = (...a) => mod().${n}(...a);`),
          ].join("\n"),
        };
      return {
        loader: "js",
        contents: [
          `const m = require(${JSON.stringify(args.path)});`,
          "const get = (k) => m[k];",
          "export default m;",
          ...names.map((n, i) => `const _${i} = /* @__PURE__ */ get("${n}");\nexport { _${i} as ${n} };`),
        ].join("\n"),
      };
    });
  },
};

const result = await build({
  ...BUNDLE_OPTIONS,
  metafile: true,
  plugins: [
    builtinsByRequire,
    stubs,
    qrcodeTrim,
    schemaProse,
    inlinePage,
    await packedHelp(),
    await prebuiltOpenApi(),
  ],
  entryPoints: [`${here}agent/src/main.ts`],
  outfile,
  define: { __LIFEBOAT_VERSION__: JSON.stringify(pkg.version) },
});

// What the bundle is made of (bytes per input), for `npm run bench` and test/bundle. Written to a
// new file and renamed over the old one: a node_modules copied with hard links (worktrees) shares
// the old file's inode, and writing into it would change every copy's.
const inputsTmp = `${cache}/bundle-inputs-${process.pid}.json`;
writeFileSync(
  inputsTmp,
  JSON.stringify(Object.values(result.metafile.outputs)[0]?.inputs ?? {}, (k, v) =>
    k === "imports" ? undefined : v,
  ),
);
renameSync(inputsTmp, `${cache}/bundle-inputs.json`);
