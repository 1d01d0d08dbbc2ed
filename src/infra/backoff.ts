/** Exponential backoff: the one formula every retry loop in Sluice uses. */
export interface BackoffOptions {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** Ceiling of the delay. */
  readonly maxMs: number;
  /** Spread each delay over [delay/2, delay] so many clients do not retry in step (default false). */
  readonly jitter?: boolean;
}

/** Redis clients and writers: 100 ms, doubling, at most 2 s. */
export const REDIS_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 2000 };

/**
 * The delay before retry number `attempt` (1-based): initialMs · 2^(attempt−1),
 * capped at maxMs; with jitter, a random point in its upper half.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random = Math.random,
): number {
  const exp = Math.min(Math.max(attempt, 1) - 1, 30);
  const delay = Math.min(options.maxMs, options.initialMs * 2 ** exp);
  return options.jitter === true ? Math.round(delay / 2 + (random() * delay) / 2) : delay;
}
