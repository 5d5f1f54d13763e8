// Bundle the agent into ONE file: dist/lifeboat.mjs (minified ESM with a shebang, no runtime lookups).
// Usage: node agent/build.mjs [outfile]
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const here = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
const outfile = process.argv[2] ?? `${here}dist/lifeboat.mjs`;

await build({
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
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __lbRequire}from'node:module';const require=__lbRequire(import.meta.url);" },
});
