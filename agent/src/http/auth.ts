import { createHash, timingSafeEqual } from "node:crypto";
import { LifeboatError } from "../core/errors.js";

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Constant-time token check (compares fixed-length digests, so the length does not leak either). */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Failed attempts per client address in a sliding window; past the limit, 429 until it slides. */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(key: string): number[] {
    const t = this.now();
    const list = (this.failures.get(key) ?? []).filter((x) => t - x < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }

  check(key: string): void {
    const list = this.recent(key);
    if (list.length >= this.limit) {
      const retry = Math.ceil((this.windowMs - (this.now() - (list[0] as number))) / 1000);
      throw new LifeboatError(
        "rate-limited",
        `too many failed token attempts from ${key}; retry in ${retry}s`,
        { retryAfter: retry },
      );
    }
  }

  fail(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    this.failures.set(key, list);
    // Bound memory under a spray of addresses.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string);
  }
}
