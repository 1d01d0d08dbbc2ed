import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { systemClock } from '../infra/clock.js';
import { TIMED_OUT, withTimeout } from '../infra/timeout.js';

const ERROR_LOG_EVERY_MS = 5000;

/**
 * Logs a BullMQ queue's or worker's 'error' events (connection errors while
 * Redis is down), at most once per 5 s. Without a listener an 'error' event
 * would crash the process.
 */
export function logErrors(
  emitter: { on(event: 'error', listener: (err: Error) => void): unknown },
  log: Logger,
  what: string,
): void {
  let last = 0;
  let suppressed = 0;
  emitter.on('error', (err: Error) => {
    const now = systemClock.now();
    if (now - last < ERROR_LOG_EVERY_MS) {
      suppressed++;
      return;
    }
    last = now;
    log.warn({ code: 'E_REDIS', err: err.message, suppressed }, `${what}: redis error`);
    suppressed = 0;
  });
}

/**
 * Closes a BullMQ worker: it stops taking jobs and waits for the running
 * ones, at most `timeoutMs`. Resolves true when it closed in time, false when
 * it gave up waiting (BullMQ keeps closing in the background; a job cut off
 * by the exit is retried as stalled). Never throws.
 */
export async function closeWorker(worker: Worker, timeoutMs: number): Promise<boolean> {
  const closed = worker.close().catch(() => undefined);
  return (await withTimeout(closed, timeoutMs)) !== TIMED_OUT;
}
