// What the shell-script suites of test/kexec share: the repository root, a probe for a host
// command, and temporary directories removed after the file's tests.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Is `cmd` on this host's PATH? */
export const have = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** A maker of temporary directories named `<prefix>…`, all removed after the calling file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
