import { LifeboatError } from "../core/errors.js";

/** How long a change (not a job) may hold the lock before it is reported as stuck. */
export const CHANGE_BOUND_MS = 10 * 60_000;

interface Holder {
  name: string;
  since: string;
  startedMs: number;
  /** Longer than this, the holder is reported stuck; null for jobs (a rebuild can take hours). */
  boundMs: number | null;
}

/**
 * One mutating operation at a time: a second one gets 409 `busy`, naming what runs, since when
 * and, past its bound, that it looks stuck. Every file operation and command a change runs has its
 * own deadline, so a change always ends and releases the lock; the report is for what still could
 * not (a dead disk keeps a kernel call waiting).
 */
export class OperationLock {
  private current: Holder | null = null;

  get busy(): { name: string; since: string } | null {
    return this.current ? { name: this.current.name, since: this.current.since } : null;
  }

  /** Throw `busy` if something runs (checked before work that will take the lock later, e.g. a job). */
  assertFree(): void {
    const c = this.current;
    if (!c) return;
    const heldSeconds = Math.round((Date.now() - c.startedMs) / 1000);
    const stuck = c.boundMs !== null && Date.now() - c.startedMs > c.boundMs;
    throw new LifeboatError(
      "busy",
      `another operation is running: ${c.name} (since ${c.since})${
        stuck
          ? `; it has held the lock for ${heldSeconds} s, longer than it may (${(c.boundMs as number) / 1000} s): something it waits for does not answer (restart the agent if it does not end)`
          : ""
      }`,
      { running: c.name, since: c.since, heldSeconds, stuck },
    );
  }

  /** Take the lock now or throw `busy`; the returned function releases it (once). */
  acquire(name: string, boundMs: number | null = null): () => void {
    this.assertFree();
    const mine: Holder = { name, since: new Date().toISOString(), startedMs: Date.now(), boundMs };
    this.current = mine;
    return () => {
      if (this.current === mine) this.current = null;
    };
  }

  async run<T>(name: string, fn: () => Promise<T>, boundMs: number = CHANGE_BOUND_MS): Promise<T> {
    const release = this.acquire(name, boundMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
