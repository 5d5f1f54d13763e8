/**
 * agent/bundle-qrcode.mjs cuts qrcode-generator's image outputs and unused modes from
 * dist/lifeboat.mjs: the console's QR code (agent/src/console/qr.ts) must come out module for module
 * as the real library draws it, for any text; what was cut throws instead of running.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_OPTIONS } from "../../agent/bundle-options.mjs";
import { qrcodeTrim, trimQrcode } from "../../agent/bundle-qrcode.mjs";
import { qrMatrix } from "../../agent/src/console/qr.js";

const ROOT = join(import.meta.dirname, "..", "..");
let dir = "";
type Trimmed = { qrMatrix: typeof qrMatrix; other: (mode: string) => string };
let trimmed: Trimmed;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lifeboat-qr-"));
  const entry = join(dir, "entry.ts");
  const { writeFile } = await import("node:fs/promises");
  await writeFile(
    entry,
    [
      `export { qrMatrix } from ${JSON.stringify(join(ROOT, "agent/src/console/qr.ts"))};`,
      `import qrcode from "qrcode-generator";`,
      `export const other = (mode) => { try { const q = qrcode(0, "L"); q.addData("12345", mode); q.make(); return "made"; } catch (e) { return String(e?.message ?? e); } };`,
    ].join("\n"),
  );
  const outfile = join(dir, "trimmed.mjs");
  await build({
    ...BUNDLE_OPTIONS,
    banner: {},
    plugins: [qrcodeTrim],
    entryPoints: [entry],
    outfile,
    nodePaths: [join(ROOT, "node_modules")],
  });
  trimmed = (await import(outfile)) as Trimmed;
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("qrcode-generator trimmed for the bundle", () => {
  it("draws the same modules as the real library (the rescue's URLs with a token, any text)", () => {
    for (const url of [
      "http://192.0.2.10:8080/#token=0123456789abcdef0123456789abcdef0123456789abcdef",
      "https://[2001:db8::1]:8443/",
    ])
      for (const ecc of ["L", "M"] as const) expect(trimmed.qrMatrix(url, ecc)).toEqual(qrMatrix(url, ecc));
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        expect(trimmed.qrMatrix(s)).toEqual(qrMatrix(s));
      }),
      { numRuns: 60, seed: 7 },
    );
  });

  it("the cut modes and outputs throw; the trim fails loudly when the package no longer has its marks", () => {
    expect(trimmed.other("Byte")).toBe("made");
    for (const mode of ["Numeric", "Alphanumeric", "Kanji"])
      expect(trimmed.other(mode)).toMatch(/is not bundled/);
    const file = createRequire(import.meta.url)
      .resolve("qrcode-generator")
      .replace(/qrcode\.js$/, "qrcode.mjs");
    const text = readFileSync(file, "utf8");
    const out = trimQrcode(text);
    expect(out.length).toBeLessThan(text.length * 0.65);
    for (const gone of ["createSvgTag", "createDataURL", "gifImage", "renderTo2dContext"])
      expect(out).not.toContain(gone);
    expect(() => trimQrcode(text.replace("_this.createTableTag", "_this.tableTag"))).toThrow(/changed/);
  });
});
