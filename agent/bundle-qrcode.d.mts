import type { Plugin } from "esbuild";

/** agent/bundle-qrcode.mjs: qrcode-generator's dist/qrcode.mjs text with the unused outputs cut. */
export declare function trimQrcode(text: string): string;
/** The esbuild plugin that bundles the trimmed text. */
export declare const qrcodeTrim: Plugin;
