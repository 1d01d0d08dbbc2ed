/**
 * Time, injected. Every rule that depends on time (batching delay,
 * checkpoint coalescing, heartbeats, leases, stall detection) takes a Clock,
 * so its unit test drives it with vitest's fake timers (which replace the
 * globals the system clock delegates to) or a hand-made clock, never with
 * thresholds on a busy machine.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for intervals (Date.now() in production). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | null): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(timer: Timer | null): void;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

/** An opaque timer handle. */
export type Timer = { readonly __timer: unique symbol } | NodeJS.Timeout;

/**
 * The process clock. It looks the globals up on every call, so vitest's fake
 * timers (installed after import) still drive it. One-shot timers keep the
 * process alive like any pending work (a reconnect delay is work to do);
 * intervals are unref'd: housekeeping (heartbeats, stall checks) never keeps
 * a process that is otherwise done from exiting.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout(timer) {
    if (timer !== null) clearTimeout(timer as NodeJS.Timeout);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval(timer) {
    if (timer !== null) clearInterval(timer as NodeJS.Timeout);
  },
  sleep: (ms) =>
    new Promise((resolve) => {
      setTimeout(resolve, ms);
    }),
};
