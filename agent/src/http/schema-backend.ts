/**
 * Source (and test) schema backend: ajv and fast-json-stringify, each schema compiled on its first
 * use, and @fastify/swagger's document. agent/build.mjs replaces THIS module in the bundle with one
 * that holds the same validators and serializers precompiled at build time (from the same
 * libraries, with the same options) and the document prebuilt, so the bundle carries neither the
 * compilers nor swagger and starts without compiling anything. Do not import it elsewhere.
 */
import { AjvCompiler } from "@fastify/ajv-compiler";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import {
  type FastifyValidationResult,
  lazySerializer,
  lazyValidator,
  type RouteSchema,
  type SchemaBackend,
  type Serializer,
} from "./compiled.js";
import { openApiInfo, withSharedProblems } from "./openapi.js";

type ValidatorFactory = (schemas: unknown, options: unknown) => (r: RouteSchema) => FastifyValidationResult;
type SerializerFactory = (schemas: unknown, options: unknown) => (r: RouteSchema) => Serializer;

const validators = AjvCompiler() as unknown as ValidatorFactory;
const serializers = SerializerSelector() as unknown as SerializerFactory;
const documents = new WeakMap<FastifyInstance, string>();

export const schemaBackend: SchemaBackend = {
  compilersFactory: {
    buildValidator: (schemas, options) => {
      const compile = validators(schemas, options);
      return (r) => lazyValidator(() => compile(r));
    },
    buildSerializer: (schemas, options) => {
      const compile = serializers(schemas, options);
      return (r) => lazySerializer(() => compile(r));
    },
  },
  register: async (app, version) => {
    await app.register(swagger, { openapi: openApiInfo(version) as never });
  },
  openapi: (app) => {
    let text = documents.get(app);
    if (text === undefined) {
      const doc = (app as unknown as { swagger(): Parameters<typeof withSharedProblems>[0] }).swagger();
      text = JSON.stringify(withSharedProblems(doc));
      documents.set(app, text);
    }
    return text;
  },
};
