import type { Plugin } from "esbuild";

/** agent/bundle-schema-prose.mjs: the source without its schemas' prose, and how many properties went. */
export declare function withoutSchemaProse(
  text: string,
  fileName?: string,
): { text: string; removed: number };
/** The esbuild plugin: the HTTP API's schemas and routes (agent/src/http), without the prose. */
export declare const schemaProse: import("esbuild").Plugin;
export type { Plugin };
