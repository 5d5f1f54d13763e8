import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// `npm ci` warns (EBADENGINE) for every installed package whose `engines.node` does not accept the
// running Node. A newcomer runs it on any Node that package.json's own `engines.node` accepts, so that
// range must lie inside every locked package's range: then no supported Node can see the warning.
// The check is npm's own range logic: `semver` (npm's and fastify's range library; it is in the lock
// through fastify, no types shipped, hence the typed require).
const semver = createRequire(import.meta.url)("semver") as {
  subset(sub: string, dom: string): boolean;
  intersects(a: string, b: string): boolean;
  validRange(r: string): string | null;
};

const root = join(import.meta.dirname, "..", "..");
const readJson = async <T>(f: string) => JSON.parse(await readFile(join(root, f), "utf8")) as T;

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

describe("Node engines: npm ci warns on no Node the project supports", () => {
  it("the project's own range keeps Node 20 and 22 (the runtime the flake ships)", async () => {
    const range = (await readJson<{ engines: { node: string } }>("package.json")).engines.node;
    expect(semver.validRange(range), range).not.toBeNull();
    expect(semver.intersects(range, "20.x"), `${range} drops Node 20`).toBe(true);
    expect(semver.intersects(range, "22.x"), `${range} drops Node 22`).toBe(true);
  });

  it("every locked package accepts every Node the project accepts", async () => {
    const range = (await readJson<{ engines: { node: string } }>("package.json")).engines.node;
    const lock = await readJson<Lock>("package-lock.json");
    const narrower: string[] = [];
    let checked = 0;
    for (const [path, p] of Object.entries(lock.packages)) {
      // Old packages wrote engines as an array of strings; npm ignores that form.
      const node = p.engines && !Array.isArray(p.engines) ? p.engines.node : undefined;
      if (!path || !node) continue;
      checked++;
      if (!semver.subset(range, node)) narrower.push(`${path}@${p.version}: node ${node}`);
    }
    expect(checked).toBeGreaterThan(10);
    expect(narrower, `packages that npm ci would warn about on a Node in ${range}`).toEqual([]);
  });
});
