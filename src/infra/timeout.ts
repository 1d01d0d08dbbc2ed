/** Sentinel returned by `withTimeout` when the deadline passed first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * Races `work` against a deadline: its value, or TIMED_OUT after `ms`. The
 * timer is always cleared, and a late rejection of `work` is swallowed (the
 * caller has moved on). The one timeout race in Sluice.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
  }
}
