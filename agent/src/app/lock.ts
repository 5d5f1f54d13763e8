import { LifeboatError } from "../core/errors.js";

/** One mutating operation at a time: a second one gets 409 `busy`, naming what runs. */
export class OperationLock {
  private current: { name: string; since: string } | null = null;

  get busy(): { name: string; since: string } | null {
    return this.current;
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.current) {
      throw new LifeboatError(
        "busy",
        `another operation is running: ${this.current.name} (since ${this.current.since})`,
        {
          running: this.current.name,
        },
      );
    }
    this.current = { name, since: new Date().toISOString() };
    try {
      return await fn();
    } finally {
      this.current = null;
    }
  }
}
