/**
 * The decoder worker's entry for tests that run the sources: the agent's bundle is its own worker
 * entry (system/decoders.ts), the sources are TypeScript a worker cannot load, so the same
 * serveDecoderJob is bundled once per test process with the agent's esbuild into a temporary file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";

let built: string | null = null;

export function decoderEntry(): string {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-decoder-"));
  const out = join(dir, "decoder.mjs");
  const src = join(import.meta.dirname, "..", "..", "agent", "src", "system", "decoders.ts");
  buildSync({
    stdin: {
      contents: `import { serveDecoderJob } from ${JSON.stringify(src)};\nserveDecoderJob();\n`,
      loader: "ts",
      resolveDir: dir,
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "warning",
  });
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  built = out;
  return out;
}
