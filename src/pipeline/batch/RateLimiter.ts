import type { Clock } from '../../infra/clock.js';

/**
 * Keys per second for `replay --max-keys-per-sec`: `wait(n)` resolves when
 * sending n more keys keeps the rate since the window started at or under
 * the limit. The window restarts every 10 s so a pause does not buy a burst.
 */
export class RateLimiter {
  private windowStart: number;
  private windowKeys = 0;

  constructor(
    private readonly keysPerSec: number,
    private readonly clock: Clock,
  ) {
    this.windowStart = clock.now();
  }

  /** The wait (ms) before sending `keys` more; records them as sent. */
  delayFor(keys: number): number {
    const elapsed = this.clock.now() - this.windowStart;
    if (elapsed > 10_000) {
      this.windowStart = this.clock.now();
      this.windowKeys = 0;
    }
    this.windowKeys += keys;
    const due = (this.windowKeys / this.keysPerSec) * 1000;
    const since = this.clock.now() - this.windowStart;
    return Math.max(0, due - since);
  }

  async wait(keys: number): Promise<void> {
    const ms = this.delayFor(keys);
    if (ms > 0) await this.clock.sleep(ms);
  }
}
