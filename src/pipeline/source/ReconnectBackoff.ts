import type { Logger } from 'pino';
import type { SluiceError } from '../../errors/index.js';
import { backoffDelay } from '../../infra/backoff.js';
import type { Clock, Timer } from '../../infra/clock.js';

/**
 * The binlog source's reconnects: the attempt count (reset once a
 * connection streams) and one pending retry at a time, after an
 * exponential, jittered backoff delay. Time comes from the clock.
 */
export class ReconnectBackoff {
  private timer: Timer | null = null;
  private attempts = 0;

  constructor(
    private readonly delays: { readonly initialDelayMs: number; readonly maxDelayMs: number },
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failed connections since the last one that streamed; 0 on the first connection. */
  get attempt(): number {
    return this.attempts;
  }

  /** True while a retry is waiting for its delay. */
  get pending(): boolean {
    return this.timer !== null;
  }

  /** A connection streams: the next failure is attempt 1 again. */
  streaming(): void {
    this.attempts = 0;
  }

  /** Logs `reason` (the stream resumes `from`) and runs `retry` after the next delay. */
  schedule(reason: SluiceError, from: string, retry: () => void): void {
    const { initialDelayMs, maxDelayMs } = this.delays;
    this.attempts++;
    const delay = backoffDelay(
      this.attempts,
      { initialMs: initialDelayMs, maxMs: maxDelayMs, jitter: true },
      this.random,
    );
    this.log.warn(
      {
        code: reason.code,
        err: reason.message,
        retryInMs: delay,
        attempt: this.attempts,
        from,
      },
      'binlog connection lost; reconnecting',
    );
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      retry();
    }, delay);
  }

  /** Drops the pending retry, if any. */
  cancel(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
