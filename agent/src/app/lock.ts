import { LifeboatError } from "../core/errors.js";

/** One mutating operation at a time: a second one gets 409 `busy`, naming what runs. */
export class OperationLock {
  private current: { name: string; since: string } | null = null;

  get busy(): { name: string; since: string } | null {
    return this.current;
  }

  /** Throw `busy` if something runs (checked before work that will take the lock later, e.g. a job). */
  assertFree(): void {
    if (this.current) {
      throw new LifeboatError(
        "busy",
        `another operation is running: ${this.current.name} (since ${this.current.since})`,
        {
          running: this.current.name,
        },
      );
    }
  }

  /** Take the lock now or throw `busy`; the returned function releases it (once). */
  acquire(name: string): () => void {
    this.assertFree();
    const mine = { name, since: new Date().toISOString() };
    this.current = mine;
    return () => {
      if (this.current === mine) this.current = null;
    };
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const release = this.acquire(name);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
