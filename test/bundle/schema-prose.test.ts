/**
 * agent/bundle-schema-prose.mjs leaves the HTTP API schemas' prose (summary, description) out of the
 * bundle's code (the prebuilt OpenAPI document carries it): the schemas differ by exactly that
 * prose, and nothing outside a schema is touched.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { BUNDLE_OPTIONS } from "../../agent/bundle-options.mjs";
import { schemaProse, withoutSchemaProse } from "../../agent/bundle-schema-prose.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
let dir = "";
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A copy without the summary/description properties that hold text. */
function prose(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(prose);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k, v]) => !((k === "summary" || k === "description") && typeof v === "string"))
      .map(([k, v]) => [k, prose(v)]),
  );
}
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe("the API schemas in the bundle, without their prose", () => {
  it("are the source's schemas less exactly their summary and description texts", async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-prose-"));
    const load = async (kind: string, plugins: Parameters<typeof build>[0]["plugins"]) => {
      const outfile = join(dir, `${kind}.mjs`);
      await build({
        ...BUNDLE_OPTIONS,
        plugins,
        entryPoints: [join(ROOT, "agent/src/http/schemas.ts")],
        outfile,
      });
      return (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
    };
    const real = await load("real", []);
    const bare = await load("bare", [schemaProse]);
    const schemas = Object.keys(real).filter((k) => typeof real[k] === "object" && real[k] !== null);
    expect(schemas.length).toBeGreaterThan(20);
    expect(Object.keys(bare).sort()).toEqual(Object.keys(real).sort());
    let withProse = 0;
    for (const k of schemas) {
      if (JSON.stringify(real[k]) !== JSON.stringify(prose(json(real[k])))) withProse++;
      expect(json(bare[k]), k).toEqual(prose(json(real[k])));
    }
    expect(withProse).toBeGreaterThan(5);
    expect(JSON.stringify(bare)).not.toMatch(/"(summary|description)":"/);
  }, 60_000);

  it("touches nothing outside a schema", () => {
    const src = [
      'const A = Type.String({ description: "gone", minLength: 1 });',
      "const B = Type.Object({ summary: S, description: Type.String() }, { description: `gone $" + "{1}` });",
      'app.get("/x", { schema: { summary: "gone", description: "gone" + "too", response: { 200: B } } },',
      '  async () => ({ summary: "kept", description: "kept" }));',
      'const data = { description: "kept" };',
    ].join("\n");
    const { text, removed } = withoutSchemaProse(src);
    expect(removed).toBe(4);
    expect(text).not.toContain("gone");
    expect(text.match(/kept/g)).toHaveLength(3);
    expect(text).toContain("summary: S");
    expect(text).toContain("description: Type.String()");
    expect(text).toContain("minLength: 1");
  });
});
