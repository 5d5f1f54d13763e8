import { LifeboatError } from "../core/errors.js";

/** How long a change (not a job) may hold the lock before it is reported as stuck. */
export const CHANGE_BOUND_MS = 10 * 60_000;

interface Holder {
  name: string;
  since: string;
  startedMs: number;
  /** Longer than this, the holder is reported stuck; null for jobs (a rebuild can take hours). */
  boundMs: number | null;
  /** The step it is on now (re-mount: "unmount /mnt/nix", "import nvmepool read-write"…). */
  step: string | null;
  /** Steps it has finished, in order. */
  steps: string[];
  /** Readers it waits for before it starts (app/readers.ts). */
  waitingFor: string[];
}

export interface Busy {
  name: string;
  since: string;
  step: string | null;
  steps: string[];
  waitingFor: string[];
}

/**
 * One mutating operation at a time: a second one gets 409 `busy`, naming what runs, since when
 * and, past its bound, that it looks stuck. Every file operation and command a change runs has its
 * own deadline, so a change always ends and releases the lock; the report is for what still could
 * not (a dead disk keeps a kernel call waiting).
 */
export class OperationLock {
  private current: Holder | null = null;
  private free: (() => void)[] = [];

  /** Resolves when nothing holds the lock (at once when free). */
  whenFree(): Promise<void> {
    if (!this.current) return Promise.resolve();
    return new Promise((r) => this.free.push(r));
  }

  get busy(): Busy | null {
    const c = this.current;
    return c
      ? { name: c.name, since: c.since, step: c.step, steps: [...c.steps], waitingFor: [...c.waitingFor] }
      : null;
  }

  /** What the holder does now (shown until the next step starts). */
  progress(step: string): void {
    if (this.current) this.current.step = step;
  }

  /** A step the holder has finished (a transaction's record: "imported nvmepool", "mounted /mnt/nix"). */
  stepDone(label: string): void {
    const c = this.current;
    if (!c) return;
    c.steps.push(label);
    if (c.steps.length > 200) c.steps.shift();
  }

  /** The readers the holder waits for ([] once it may start). */
  waiting(names: string[]): void {
    if (this.current) this.current.waitingFor = names;
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
    const mine: Holder = {
      name,
      since: new Date().toISOString(),
      startedMs: Date.now(),
      boundMs,
      step: null,
      steps: [],
      waitingFor: [],
    };
    this.current = mine;
    return () => {
      if (this.current !== mine) return;
      this.current = null;
      for (const r of this.free.splice(0)) r();
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
