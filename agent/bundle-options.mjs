// The esbuild options of dist/lifeboat.mjs, shared with `npm run bench`, which bundles its fastify
// hello-world baseline with exactly these (same esbuild, same fastify, same minification).
export const BUNDLE_OPTIONS = {
  bundle: true,
  minify: true,
  platform: "node",
  target: "node20",
  format: "esm",
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
  // Fastify and pino are CommonJS: give the ESM bundle a real `require` for Node's built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport{createRequire as __lbRequire}from'node:module';const require=__lbRequire(import.meta.url);",
  },
};
