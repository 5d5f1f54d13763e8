import type { Plugin } from "esbuild";

/** agent/bundle-stubs.mjs: [what is imported, by which package, the stub]. */
export declare const STUBS: [RegExp, string | RegExp, string[] | ((fail: string) => string)][];
/** The esbuild plugin that puts the stubs in place. */
export declare const stubs: Plugin;
/** What fastify's lib/warnings.js exports (the stub keeps each, without its text). */
export declare const FASTIFY_WARNINGS: string[];
