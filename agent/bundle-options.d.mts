import type { BuildOptions } from "esbuild";

/** agent/bundle-options.mjs: the esbuild options of dist/lifeboat.mjs and of the bench's baseline. */
export declare const BUNDLE_OPTIONS: BuildOptions;
