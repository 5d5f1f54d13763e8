import { timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { sendProblem } from "./problem.js";

/**
 * Constant-time check against one token, made once per server. The presented token is copied
 * into a zeroed buffer of the expected token's size and compared whole (timingSafeEqual), the
 * lengths apart: the time never depends on how much of the token matches. No hash per request
 * (it cost a fifth of a status request). The only thing timing could tell is the token's length,
 * which is no secret (the generated token is always 43 characters).
 */
export function tokenMatcher(expected: string): (presented: string | undefined) => boolean {
  const want = Buffer.from(expected, "utf8");
  const got = Buffer.alloc(want.length);
  return (presented) => {
    if (presented === undefined) return false;
    got.fill(0);
    got.write(presented, "utf8");
    const same = timingSafeEqual(got, want);
    return Buffer.byteLength(presented, "utf8") === want.length && same;
  };
}

/** One-off comparison (tests, tools); the server uses tokenMatcher. */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  return tokenMatcher(expected)(presented);
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export interface FailureVerdict {
  /** Past the limit: answer 429 instead of 401. */
  limited: boolean;
  /** Seconds until the oldest failure in the window expires. */
  retryAfter: number;
  /** This failure is the one that crossed the limit (log it once, not every time). */
  crossed: boolean;
}

/**
 * Failed token attempts per client address in a sliding window. It only ever sees FAILURES: the
 * server asks it nothing when the token is right, so a valid token is never refused — behind an
 * SSH tunnel every operator is 127.0.0.1, and someone else's typos must not lock them out. Past
 * the limit a wrong token gets 429 instead of 401 until the window slides.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, { times: number[]; limited: boolean }>();
  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record one failure from `key` and say whether that address is now rate-limited. */
  fail(key: string): FailureVerdict {
    const t = this.now();
    const entry = this.failures.get(key) ?? { times: [], limited: false };
    const times = entry.times.filter((x) => t - x < this.windowMs);
    const limited = times.length >= this.limit;
    times.push(t);
    // Only the newest `limit` failures matter: memory per address stays bounded under a spray.
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    const crossed = limited && !entry.limited;
    // Re-inserted so that the Map's order is least recently failing first.
    this.failures.delete(key);
    this.failures.set(key, { times, limited });
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string);
    return {
      limited,
      retryAfter: Math.max(1, Math.ceil((this.windowMs - (t - (times[0] as number))) / 1000)),
      crossed,
    };
  }
}

/**
 * Answer a request whose token is missing or wrong: count the failure for its address, then 429
 * once the address is over the limit (logged once, when it crosses), else 401 with `hint`.
 * Shared by the API's auth hook, /metrics and the collector, so all three count the same way.
 */
export function refuseToken(
  limiter: FailureLimiter,
  req: FastifyRequest,
  reply: FastifyReply,
  hint: string,
): Promise<void> | FastifyReply {
  const who = req.ip;
  const path = req.url.split("?")[0];
  const verdict = limiter.fail(who);
  if (verdict.limited) {
    if (verdict.crossed) req.log.warn({ ip: who, path }, "too many failed token attempts: answering 429");
    return sendProblem(
      reply,
      req,
      "rate-limited",
      `too many failed token attempts from ${who}; retry in ${verdict.retryAfter}s`,
      { retryAfter: verdict.retryAfter },
    );
  }
  req.log.warn({ ip: who, path }, "rejected request without a valid token");
  return sendProblem(reply, req, "unauthorized", hint);
}
