import { Type } from "@sinclair/typebox";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { prepareRoutes, schemaCompilers, serializable } from "../../agent/src/http/compilers.js";
import { Status } from "../../agent/src/http/schemas.js";
import { buildServer } from "../../agent/src/http/server.js";
import { rig } from "../app/harness.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "compilers-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);

const open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

async function server(compileEagerly = false) {
  const r = await rig("single");
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "silent" }),
    services: r.services,
    compileEagerly,
  });
  open.push(app);
  return app;
}

const route = (schema: unknown, httpPart?: string) =>
  ({ schema, method: "GET", url: "/x", ...(httpPart ? { httpPart } : {}) }) as never;

describe("route schema compilers (compile on first use, no ajv)", () => {
  it("every route's validators and serializers compile (what the build checks)", async () => {
    const app = await server(true);
    await expect(app.ready()).resolves.toBeDefined();
  });

  it("query strings are converted: ?refresh=1 and ?refresh=true are true, ?refresh=maybe is a 400 problem", async () => {
    const app = await server();
    for (const q of ["1", "true", "0", "false"])
      expect((await app.inject({ url: `/v1/status?refresh=${q}`, headers: auth })).statusCode, q).toBe(200);
    const bad = await app.inject({ url: "/v1/status?refresh=maybe", headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "validation-failed", errors: [{ path: "/refresh" }] });
  });

  it("JSON bodies are taken as JSON: a string is not a boolean; defaults are filled", async () => {
    const { buildValidator } = schemaCompilers();
    const Body = Type.Object(
      { readonly: Type.Optional(Type.Boolean({ default: true })), n: Type.Optional(Type.Integer()) },
      { additionalProperties: false },
    );
    const body = buildValidator()(route(Body, "body"));
    expect(body({})).toEqual({ value: { readonly: true } });
    expect(body({ readonly: "true" })).toMatchObject({ error: [{ instancePath: "/readonly" }] });
    expect(body({ extra: 1 })).toMatchObject({
      error: [expect.objectContaining({ instancePath: "/extra" })],
    });
    const query = buildValidator()(route(Body, "querystring"));
    expect(query({ readonly: "false", n: "12" })).toEqual({ value: { readonly: false, n: 12 } });
  });

  it("at most 5 errors are collected, however bad the input", () => {
    const { buildValidator } = schemaCompilers();
    const Many = Type.Object(
      Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, Type.Integer()])),
    );
    const r = buildValidator()(route(Many, "body"))({}) as { error: unknown[] };
    expect(r.error).toHaveLength(5);
  });

  it("prepareRoutes makes a route's validators and serializers before its first request", async () => {
    const Tags = Type.Object({ tags: Type.Array(Type.String(), { uniqueItems: true }) });
    const lazy = schemaCompilers().buildValidator()({
      schema: Tags,
      method: "POST",
      url: "/v1/warm-test",
      httpPart: "body",
    } as never);
    // made now, not on the first request: the refusal comes from prepareRoutes
    await expect(prepareRoutes(["/v1/warm-test"])).rejects.toThrow(/uniqueItems is not supported/);
    const { buildSerializer } = schemaCompilers();
    const ser = buildSerializer()({
      schema: Type.Object({ ok: Type.Boolean() }),
      method: "GET",
      url: "/v1/warm-test-2",
      httpStatus: "200",
    } as never);
    await prepareRoutes(["/v1/warm-test-2", "/v1/not-a-route"]);
    expect(ser({ ok: true, secret: "x" })).toBe('{"ok":true}');
    expect(typeof lazy).toBe("function");
  });

  it("uniqueItems is refused when the validator is made (the bundle has no value hashing)", () => {
    const { buildValidator } = schemaCompilers(true);
    const Tags = Type.Object({ tags: Type.Array(Type.String(), { uniqueItems: true }) });
    expect(() => buildValidator()(route(Tags, "body"))).toThrow(/uniqueItems is not supported/);
    const lazy = schemaCompilers().buildValidator()(route(Tags, "body"));
    expect(() => lazy({ tags: ["a"] })).toThrow(/uniqueItems is not supported/);
  });

  it("responses carry only what the schema names (an internal field never leaks)", async () => {
    const { buildSerializer } = schemaCompilers();
    const s = buildSerializer()(
      route(Type.Object({ a: Type.String(), b: Type.Union([Type.String(), Type.Null()]) })),
    );
    expect(s({ a: "x", b: null, secret: "hunter2" })).toBe('{"a":"x","b":null}');
  });

  it("unions become forms fast-json-stringify writes without ajv; other unions are refused", () => {
    expect(serializable(Type.Union([Type.String(), Type.Null()]))).toMatchObject({
      type: ["string", "null"],
    });
    expect(
      serializable(Type.Union([Type.Object({ a: Type.String() }), Type.Null()])) as { type: unknown },
    ).toMatchObject({ type: ["object", "null"], properties: { a: { type: "string" } } });
    expect(serializable(Type.Union([Type.Literal("zfs"), Type.Literal("block")]))).toMatchObject({
      type: "string",
      enum: ["zfs", "block"],
    });
    expect(serializable(Type.Union([Type.Integer(), Type.String()]))).toMatchObject({
      type: ["integer", "string"],
    });
    expect(() =>
      serializable(
        Type.Object({
          x: Type.Union([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })]),
        }),
      ),
    ).toThrow(/#\/properties\/x: this union cannot be serialized without ajv/);
    // Schemas fast-json-stringify would merge (the bundle has no merger: agent/bundle-stubs.mjs).
    expect(() =>
      serializable({
        type: "object",
        properties: { x: { allOf: [Type.Object({ a: Type.String() }), Type.Object({})] } },
      }),
    ).toThrow(/#\/properties\/x: allOf cannot be serialized/);
    expect(() => serializable({ $ref: "T0", type: "object" })).toThrow(/a \$ref with keywords beside it/);
    expect(serializable({ $ref: "T0", description: "a note" })).toEqual({
      $ref: "T0",
      description: "a note",
    });
    // The status schema (nullable objects, literal unions, recursive types) goes through whole.
    expect(JSON.stringify(serializable(Status))).not.toMatch(/anyOf|oneOf/);
  });

  it("/openapi.json describes the problem+json shape once and refers every operation to it", async () => {
    const app = await server();
    const doc = (await app.inject({ url: "/openapi.json", headers: auth })).json();
    expect(doc.components.responses.Problem.content["application/problem+json"].schema).toEqual({
      $ref: "#/components/schemas/Problem",
    });
    expect(doc.components.schemas.Problem.properties.code).toBeDefined();
    const ops = Object.values(doc.paths as Record<string, Record<string, { responses: object }>>).flatMap(
      (p) => Object.values(p),
    );
    expect(ops.length).toBeGreaterThanOrEqual(20);
    for (const op of ops) {
      expect(op.responses).toMatchObject({
        "4XX": { $ref: "#/components/responses/Problem" },
        "5XX": { $ref: "#/components/responses/Problem" },
      });
      // No per-status copies of the problem schema any more.
      expect(JSON.stringify(op.responses)).not.toContain('"409"');
    }
  });
});
