// Bundle the agent into ONE file: dist/lifeboat.mjs (minified ESM with a shebang, no runtime lookups).
// Usage: node agent/build.mjs [outfile]
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { deflateRawSync } from "node:zlib";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "./bundle-options.mjs";
import { buildPage } from "./src/ui/build-page.mjs";

const here = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
const outfile = process.argv[2] ?? `${here}dist/lifeboat.mjs`;
const cache = `${here}node_modules/.cache/lifeboat`;
mkdirSync(cache, { recursive: true });

// Code paths the agent never takes, replaced by stubs that throw if ever called: pino transports
// (worker threads loading lib/worker.js: a runtime file lookup); fastify's default schema
// compilers (ajv, fast-json-stringify's factory: fastify loads them only when no compilers are
// given, and agent/src/http/compilers.ts gives its own); fast-json-stringify's ajv bridge (built
// only for response unions, which compilers.ts rewrites away or refuses) and its standalone code
// generator; light-my-request (`app.inject`, used by tests only). And fast-json-stringify's
// meta-validation of each response schema (an ajv-generated validator of JSON Schema itself):
// agent/prebuild.ts has compiled every schema of the bundle through the real one at build time.
// fastify's `semver` (gt, coerce, satisfies): used only to check a registered plugin's declared
// fastify version (plugin-utils.js checkVersion, for plugins with meta.fastify); the bundle
// registers no plugin (@fastify/swagger runs in agent/prebuild.ts only). fastify's
// `@fastify/proxy-addr` (and ipaddr.js under it): used only with a `trustProxy` option
// (request.js buildRequestWithTrustProxy); both servers set `trustProxy: false`.
// Each entry: what is imported, by which package, and the members of the stub (all throw).
const STUBS = [
  [/^thread-stream$/, "/node_modules/pino/"],
  [/[\\/]transport(\.js)?$/, "/node_modules/pino/"],
  [
    /^(@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|light-my-request)$/,
    "/node_modules/fastify/",
  ],
  [/^\.\/lib\/(validator|standalone|schema-validator)$/, "/node_modules/fast-json-stringify/"],
  [/^semver$/, "/node_modules/fastify/", ["gt", "coerce", "satisfies"]],
  [/^@fastify\/proxy-addr$/, "/node_modules/fastify/", ["all", "compile"]],
];
const stubs = {
  name: "lifeboat-stubs",
  setup(b) {
    for (const [filter, importer, members = []] of STUBS)
      b.onResolve({ filter }, (args) =>
        args.importer.includes(importer)
          ? { path: args.path, namespace: "stub", pluginData: members }
          : undefined,
      );
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      loader: "js",
      contents: args.path.endsWith("schema-validator")
        ? "module.exports = function () { return true; };"
        : [
            `const fail = function () { throw new Error(${JSON.stringify(`${args.path} is not available in the lifeboat bundle`)}); };`,
            `module.exports = Object.assign(fail, { ${args.pluginData.map((m) => `${m}: fail`).join(", ")} });`,
          ].join("\n"),
    }));
  },
};

// The OpenAPI document is generated at build time by the real server with @fastify/swagger
// (agent/prebuild.ts, which also compiles every route schema once, so a bad one fails the build
// instead of a first request) and kept deflated in the bundle: the generated module takes the place
// of agent/src/http/openapi-source.ts, so neither swagger nor its `yaml` is bundled, and nothing
// is done for the document until someone asks for it.
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
  const doc = deflateRawSync(readFileSync(out), { level: 9 }).toString("base64");
  rmSync(script, { force: true });
  rmSync(out, { force: true });
  // zlib is loaded when the document is first asked for, not at start (the bundle's `require`).
  const contents = [
    `let text = null;`,
    `export const openApiSource = {`,
    `  register: async () => undefined,`,
    `  document: () => (text ??= require("node:zlib").inflateRawSync(Buffer.from(${JSON.stringify(doc)}, "base64")).toString("utf8")),`,
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

// The web page (agent/src/ui) is built first and kept in the bundle deflated, like the OpenAPI
// document (40 KB of text as ~15 KB of base64): inflated when the page is first asked for, served
// from memory after that.
const page = deflateRawSync(JSON.stringify(await buildPage()), { level: 9 }).toString("base64");
const inlinePage = {
  name: "lifeboat-page",
  setup(b) {
    b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]ui[\\/]page\.ts$/ }, () => ({
      loader: "js",
      contents: `export const loadPage = () => JSON.parse(require("node:zlib").inflateRawSync(Buffer.from(${JSON.stringify(page)}, "base64")).toString("utf8"));`,
    }));
  },
};

const result = await build({
  ...BUNDLE_OPTIONS,
  metafile: true,
  plugins: [stubs, inlinePage, await prebuiltOpenApi()],
  entryPoints: [`${here}agent/src/main.ts`],
  outfile,
  define: { __LIFEBOAT_VERSION__: JSON.stringify(pkg.version) },
});

// What the bundle is made of (bytes per input), for `npm run bench`.
writeFileSync(
  `${cache}/bundle-inputs.json`,
  JSON.stringify(Object.values(result.metafile.outputs)[0]?.inputs ?? {}, (k, v) =>
    k === "imports" ? undefined : v,
  ),
);
