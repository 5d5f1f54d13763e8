/**
 * Where `/openapi.json` comes from when running from source (tests, `tsx`): @fastify/swagger
 * collects the routes as they are registered. agent/build.mjs replaces THIS module in the bundle
 * with one holding the document it generated the same way at build time, so the bundle carries
 * neither swagger nor its `yaml` and does no work for the document at start. Import it only from
 * server.ts.
 */
import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { type OpenApiDocument, type OpenApiSource, openApiInfo, withSharedProblems } from "./openapi.js";

const documents = new WeakMap<FastifyInstance, string>();

export const openApiSource: OpenApiSource = {
  register: async (app, version) => {
    await app.register(swagger, { openapi: openApiInfo(version) as never });
  },
  document: (app) => {
    let text = documents.get(app);
    if (text === undefined) {
      const doc = (app as unknown as { swagger(): OpenApiDocument }).swagger();
      text = JSON.stringify(withSharedProblems(doc));
      documents.set(app, text);
    }
    return text;
  },
};
