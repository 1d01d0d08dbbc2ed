/**
 * Time, injected. Every rule that depends on time (batching delay,
 * checkpoint coalescing, heartbeats, leases, stall detection) takes a Clock,
 * so its unit test drives it with vitest's fake timers (which replace the
 * globals the system clock delegates to) or a hand-made clock, never with
 * thresholds on a busy machine.
 */
export interface Clock {
  /**
   * Whole milliseconds for intervals and deadlines inside this process: on
   * the epoch's scale, but monotonic in production (a wall clock stepped by
   * NTP or by hand moves neither a deadline nor a heartbeat's age). Never a
   * time to show or store: that is Date.now().
   */
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
 * The process clock. `now()` counts from the process's time origin with the
 * monotonic clock (`performance`), so a stepped wall clock cannot hold a
 * quiet checkpoint, age every heartbeat at once or end a wait early. It looks
 * the globals up on every call, so vitest's fake timers (installed after
 * import) still drive it. One-shot timers keep the process alive like any
 * pending work (a reconnect delay is work to do); intervals are unref'd:
 * housekeeping (heartbeats, stall checks) never keeps a process that is
 * otherwise done from exiting.
 */
export const systemClock: Clock = {
  now: () => Math.floor(performance.timeOrigin + performance.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  // Node's typings take undefined, not null, for no timer.
  clearTimeout: (timer) => clearTimeout((timer ?? undefined) as NodeJS.Timeout | undefined),
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (timer) => clearInterval((timer ?? undefined) as NodeJS.Timeout | undefined),
  sleep: (ms) =>
    new Promise((resolve) => {
      setTimeout(resolve, ms);
    }),
};
