// Bundle the agent into ONE file: dist/lifeboat.mjs (minified ESM with a shebang, no runtime lookups).
// Usage: node agent/build.mjs [outfile]
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { buildPage } from "./src/ui/build-page.mjs";

const here = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
const outfile = process.argv[2] ?? `${here}dist/lifeboat.mjs`;

// Code paths the agent never takes but that would look up files next to the bundle at run time:
// pino transports (worker threads loading lib/worker.js) and @fastify/swagger's package.json
// lookup (we always pass `info`). Replaced by stubs so the bundle has no runtime file lookups.
const stubs = {
  name: "lifeboat-stubs",
  setup(b) {
    b.onResolve({ filter: /^thread-stream$/ }, () => ({ path: "thread-stream", namespace: "stub" }));
    b.onResolve({ filter: /[\\/]transport(\.js)?$/ }, (args) =>
      args.importer.includes(`${"node_modules"}/pino/`)
        ? { path: "pino-transport", namespace: "stub" }
        : undefined,
    );
    b.onResolve({ filter: /read-package-json(\.js)?$/ }, (args) =>
      args.importer.includes("@fastify/swagger")
        ? { path: "read-package-json", namespace: "stub" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      loader: "js",
      contents:
        args.path === "read-package-json"
          ? "module.exports = { readPackageJson: () => ({}) };"
          : `module.exports = function () { throw new Error("${args.path} is not available in the lifeboat bundle"); };`,
    }));
  },
};

// The web page (agent/src/ui) is built first and inlined as strings: the bundle serves it from memory.
const page = await buildPage();
const inlinePage = {
  name: "lifeboat-page",
  setup(b) {
    b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]ui[\\/]page\.ts$/ }, () => ({
      loader: "js",
      contents: `export const PAGE = ${JSON.stringify(page)};`,
    }));
  },
};

await build({
  plugins: [stubs, inlinePage],
  entryPoints: [`${here}agent/src/main.ts`],
  outfile,
  bundle: true,
  minify: true,
  platform: "node",
  target: "node20",
  format: "esm",
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
  define: { __LIFEBOAT_VERSION__: JSON.stringify(pkg.version) },
  // Fastify and pino are CommonJS: give the ESM bundle a real `require` for Node's built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport{createRequire as __lbRequire}from'node:module';const require=__lbRequire(import.meta.url);",
  },
});
