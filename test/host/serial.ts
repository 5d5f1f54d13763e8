import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The host suites share the machine's loop devices and mount table and compare it before and
 * after: they take turns. A directory is the lock (mkdir is atomic); a lock whose owner process is
 * gone is taken over.
 */
const LOCK = join(tmpdir(), "lifeboat-host-tests.lock");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function hostTurn(): Promise<() => Promise<void>> {
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(join(LOCK, "pid"), String(process.pid));
      return async () => {
        await rm(LOCK, { recursive: true, force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number((await readFile(join(LOCK, "pid"), "utf8").catch(() => "")) || 0);
      if (owner > 0 && owner !== process.pid && !alive(owner))
        await rm(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
