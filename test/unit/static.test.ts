import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

describe("static checks", () => {
  it("typescript: tsc --noEmit (strict) passes", async () => {
    const r = await execa("npx", ["tsc", "--noEmit"], { cwd: ROOT, reject: false });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  }, 120_000);

  it("biome: lint and format are clean", async () => {
    const r = await execa("npx", ["biome", "check", "--max-diagnostics=20", "."], {
      cwd: ROOT,
      reject: false,
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
