/**
 * Build-time step of agent/build.mjs (bundled and run by it; never part of the agent). Builds the
 * real HTTP server once with every route schema compiled eagerly — a schema that cannot compile,
 * or a response union the serializer could not write without ajv, fails the build here rather
 * than on a first request — and writes the OpenAPI document, which the bundle serves prebuilt.
 */
import { writeFileSync } from "node:fs";
import pino from "pino";
import type { Services } from "./src/app/services.js";
import { buildServer } from "./src/http/server.js";
import { VERSION } from "./src/version.js";

const out = process.argv[2];
if (!out) throw new Error("usage: prebuild.mjs OUTFILE");
const app = await buildServer({
  token: "build-time-placeholder-token",
  logger: pino({ level: "silent" }),
  // Registration reads only the version; the handlers (never called here) use the rest.
  services: { version: VERSION } as Services,
  ui: null,
  compileEagerly: true,
});
await app.ready();
const res = await app.inject({
  url: "/openapi.json",
  headers: { authorization: "Bearer build-time-placeholder-token" },
});
if (res.statusCode !== 200) throw new Error(`/openapi.json answered ${res.statusCode}: ${res.body}`);
await app.close();
writeFileSync(out, res.body);
