import type { FastifyInstance } from "fastify";
import { Problem } from "./schemas.js";

/** Where the document comes from: swagger from source (openapi-source.ts), prebuilt in the bundle. */
export interface OpenApiSource {
  /** Called before any route is registered. */
  register(app: FastifyInstance, version: string): Promise<void>;
  /** The document as JSON text. */
  document(app: FastifyInstance): string;
}

/** What @fastify/swagger produces, as far as we touch it. */
export interface OpenApiDocument {
  openapi: string;
  paths?: Record<string, Record<string, { responses?: Record<string, unknown> } | unknown>>;
  components?: Record<string, Record<string, unknown> | undefined>;
  [key: string]: unknown;
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options"]);
const PROBLEM_REF = { $ref: "#/components/responses/Problem" } as const;

/**
 * Every error of every route is the same RFC 9457 problem+json shape, so the document describes it
 * ONCE (`components.responses.Problem`) and every operation refers to it for 4XX and 5XX. Routes do
 * not carry problem responses in their own schemas: sendProblem serializes problem bodies itself,
 * and fastify compiles no serializer for them.
 */
export function withSharedProblems(doc: OpenApiDocument): OpenApiDocument {
  const { $id: _id, ...problem } = Problem;
  const components = doc.components ?? {};
  const paths: NonNullable<OpenApiDocument["paths"]> = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const next: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method) || typeof op !== "object" || op === null) {
        next[method] = op;
        continue;
      }
      const o = op as { responses?: Record<string, unknown> };
      next[method] = { ...o, responses: { ...o.responses, "4XX": PROBLEM_REF, "5XX": PROBLEM_REF } };
    }
    paths[path] = next;
  }
  return {
    ...doc,
    paths,
    components: {
      ...components,
      schemas: { ...components.schemas, Problem: problem },
      responses: {
        ...components.responses,
        Problem: {
          description: "RFC 9457 problem details with a stable `code` (every error of every route)",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
      },
    },
  };
}

/** The document header (the routes fill `paths`). */
export function openApiInfo(version: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Lifeboat rescue agent",
      version,
      description:
        "Detect, import and mount a broken NixOS-on-ZFS system, and fix it. Every route but /healthz needs the bearer token.",
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
  };
}
