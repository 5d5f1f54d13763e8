import { FormatRegistry, type TSchema } from "@sinclair/typebox";
import { Errors } from "@sinclair/typebox/errors";
import { Check, Convert, Default } from "@sinclair/typebox/value";
import fastJsonStringify from "fast-json-stringify";
import type { FastifySchemaCompiler, FastifySchemaValidationError, FastifySerializerCompiler } from "fastify";

/**
 * Route schemas become validators and serializers here, each on its FIRST USE: nothing is compiled
 * while the agent starts (33 routes used to cost ~0.5 s of ajv and fast-json-stringify at start).
 *
 * - Validation: TypeBox's own checker (the schemas are TypeBox's): `Check` walks the schema (the
 *   same checks TypeBox's code-generating compiler makes, at ~60 ns for a small query object instead
 *   of ~35, and the bundle carries one checker instead of two: Convert and Default use it). Query strings, path
 *   parameters and headers arrive as strings and are converted first (`?refresh=1`, `true`,
 *   `after=12`); JSON bodies are not converted (a JSON API takes JSON types). Defaults are filled.
 * - Serialization: fast-json-stringify, which writes only the properties the schema names. The
 *   schemas are rewritten into forms it serializes without ajv (`T | null` → `type: [T, "null"]`,
 *   a union of string literals → an `enum`), so ajv is in neither the agent nor its bundle; a union
 *   it could not serialize that way is refused when the route's serializer is compiled. So is a
 *   schema it would have to merge (`allOf`, a `$ref` with keywords beside it): the bundle leaves
 *   its schema merger out (agent/bundle-stubs.mjs), and every schema written here is one that
 *   needs no merging.
 */

export type Serializer = (data: unknown) => string;
type ValidationResult = ReturnType<FastifySchemaCompiler<TSchema>>;
type RouteSchema = Parameters<FastifySchemaCompiler<TSchema>>[0];

// `format` keywords our schemas use (TypeBox checks only registered formats).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has("uuid")) FormatRegistry.Set("uuid", (v) => UUID.test(v));

/** At most this many validation errors are collected (hostile input can make thousands). */
const MAX_ERRORS = 5;

function compileValidator({ schema, httpPart }: RouteSchema): ValidationResult {
  const text = JSON.stringify(schema);
  // TypeBox checks uniqueItems by hashing every element: the bundle leaves its hashing out
  // (agent/bundle-stubs.mjs), and no schema here asks for it.
  if (text.includes('"uniqueItems":true')) throw new Error("uniqueItems is not supported in request schemas");
  const strings = httpPart !== "body";
  const defaults = text.includes('"default":');
  return (data: unknown) => {
    // The usual request is already valid and has nothing to fill in: checked, not copied.
    if (!defaults && Check(schema, data)) return true;
    let value = strings ? Convert(schema, data) : data;
    if (defaults) value = Default(schema, value);
    if (Check(schema, value)) return { value };
    const error: FastifySchemaValidationError[] = [];
    for (const e of Errors(schema, value)) {
      error.push({
        instancePath: e.path,
        message: e.message,
        keyword: "typebox",
        schemaPath: "",
        params: {},
      });
      if (error.length >= MAX_ERRORS) break;
    }
    return { error };
  };
}

type Json = { [key: string]: unknown };
const isSchema = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isNull = (s: unknown) => isSchema(s) && s.type === "null";

/** Keywords fast-json-stringify ignores beside a `$ref` (its IGNORED_REF_SIBLING_KEYWORDS). */
const REF_NOTES = new Set([
  "$ref",
  "$comment",
  "title",
  "description",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

/** A schema fast-json-stringify serializes with its own type checks only (no ajv): see above. */
export function serializable(schema: unknown, where = "#"): unknown {
  if (Array.isArray(schema)) return schema.map((s, i) => serializable(s, `${where}/${i}`));
  if (!isSchema(schema)) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema))
    out[k] = k === "const" || k === "enum" ? v : serializable(v, `${where}/${k}`);
  if (out.allOf !== undefined)
    throw new Error(`${where}: allOf cannot be serialized without merging schemas (write one object)`);
  if (out.$ref !== undefined && Object.keys(out).some((k) => !REF_NOTES.has(k)))
    throw new Error(`${where}: a $ref with keywords beside it cannot be serialized without merging schemas`);
  const union = (out.anyOf ?? out.oneOf) as unknown[] | undefined;
  if (!union) {
    if (out.if !== undefined) throw new Error(`${where}: if/then/else cannot be serialized without ajv`);
    return out;
  }
  const { anyOf: _a, oneOf: _o, ...rest } = out;
  const options = union.filter((s) => !isNull(s));
  const nullable = options.length < union.length;
  // T | null, with T of one JSON type
  if (options.length === 1 && nullable) {
    const only = options[0] as Json;
    if (typeof only.type === "string") return { ...rest, ...only, type: [only.type, "null"] };
    if (Array.isArray(only.type)) return { ...rest, ...only, type: [...only.type, "null"] };
  }
  // "a" | "b" | … (| null)
  if (options.length > 0 && options.every((s) => isSchema(s) && typeof s.const === "string"))
    return {
      ...rest,
      type: nullable ? ["string", "null"] : "string",
      enum: [...options.map((s) => (s as Json).const), ...(nullable ? [null] : [])],
    };
  // A union of plain JSON types without further keywords: integer | string, …
  if (
    options.every(
      (s) =>
        isSchema(s) &&
        typeof s.type === "string" &&
        Object.keys(s).length === 1 &&
        s.type !== "object" &&
        s.type !== "array",
    )
  )
    return { ...rest, type: [...options.map((s) => (s as Json).type), ...(nullable ? ["null"] : [])] };
  throw new Error(`${where}: this union cannot be serialized without ajv (use T | null or string literals)`);
}

function compileSerializer({ schema }: { schema: unknown }): Serializer {
  return fastJsonStringify(serializable(schema) as never) as Serializer;
}

/** The routes' validators and serializers not made yet, by the route's URL (made by prepareRoutes). */
const unmade = new Map<string, (() => void)[]>();

/** A function made on its first call (fastify reads no `.errors`: our validators return them). */
function lazy<A, R>(url: string, make: () => (arg: A) => R): (arg: A) => R {
  let real: ((arg: A) => R) | null = null;
  const ready = () => {
    if (real === null) real = make();
    return real;
  };
  unmade.set(url, [...(unmade.get(url) ?? []), ready]);
  return (arg) => (real ?? ready())(arg);
}

/**
 * Make the validators and serializers of these routes now, one per turn of the event loop (a
 * request arriving meanwhile waits for one at most): the idle agent readies what the operator's
 * first mount answers with (app/warmup.ts). Resolves once all are made.
 */
export async function prepareRoutes(urls: readonly string[]): Promise<void> {
  for (const url of urls) {
    for (const make of unmade.get(url) ?? []) {
      await new Promise<void>((r) => setImmediate(r));
      make();
    }
    unmade.delete(url);
  }
}

/**
 * fastify's `schemaController.compilersFactory`. `eager` compiles every schema when its route is
 * registered instead (agent/build.mjs does, so a schema that cannot compile fails the build).
 */
export function schemaCompilers(eager = false) {
  const validator: FastifySchemaCompiler<TSchema> = (r) =>
    eager ? compileValidator(r) : (lazy(r.url, () => compileValidator(r)) as ValidationResult);
  const serializer: FastifySerializerCompiler<unknown> = (r) =>
    eager ? compileSerializer(r) : lazy(r.url, () => compileSerializer(r));
  return { buildValidator: () => validator, buildSerializer: () => serializer };
}
