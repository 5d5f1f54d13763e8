/** Retry policy of the phone-home sender: bounded attempts, exponential backoff with full jitter. */
export interface RetryPolicy {
  /** Attempts per report, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 2_000, maxMs: 60_000 };

/**
 * Delay before retry number `retry` (1 = the first retry): uniformly random in [cap/2, cap] with
 * cap = min(max, base·2^(retry-1)). Half the cap is kept so that a fleet of agents rebooted at
 * once spreads out without retrying at once; `random` is injectable for tests.
 */
export function retryDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(30, retry - 1)));
  return Math.round(cap / 2 + random() * (cap / 2));
}
