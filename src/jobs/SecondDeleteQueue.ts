import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { systemClock } from '../infra/clock.js';
import { withTimeout } from '../infra/timeout.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { logErrors } from './workerLifecycle.js';

/** The BullMQ queue name of delayed second deletes (under the jobs prefix). */
export const SECOND_DELETE_QUEUE = 'second-delete';

/** A second-delete job's data: the keys of one acknowledged sink batch. */
export interface SecondDeleteJobData {
  readonly v: 1;
  readonly keys: readonly string[];
}

export interface SecondDeleteQueueOptions {
  /** A connection for the producer; owned by the caller. */
  readonly connection: Redis | Cluster;
  /** BullMQ prefix; must match the worker's (default `RedisKeys.jobsPrefix('main')`). */
  readonly prefix?: string;
  /** `invalidation.secondDeleteMs`: how long after the first delete the second one runs. */
  readonly delayMs: number;
  readonly logger: Logger;
  /** Batches being added at once above which new ones are dropped, with a warning (default 10,000). */
  readonly maxPending?: number;
}

/**
 * The delayed double delete, producer side. The daemon's sink hands it every
 * batch Redis acknowledged; each becomes a durable BullMQ job delayed by
 * `secondDeleteMs`, whose worker deletes the same keys (and leases) again and
 * publishes them. That second delete removes a value a racing writer set
 * after the first delete from data it read before the write (the classic
 * stale set that leases do not cover, e.g. a writer outside Sluice). The
 * job lives in Redis, so one scheduled before a daemon restart runs after it.
 *
 * `schedule` never blocks the sink: the add runs in the background, bounded
 * by `maxPending`. A crash in the moment between a batch's acknowledgement
 * and its job reaching Redis loses that batch's second delete (its first
 * delete did happen). It satisfies the Invalidator's SecondDeleteScheduler
 * port structurally: jobs/ does not import pipeline/.
 */
export class SecondDeleteQueue {
  private readonly queue: Queue<SecondDeleteJobData>;
  private readonly log: Logger;
  private readonly maxPending: number;
  private readonly pending = new Set<Promise<void>>();
  private closing: Promise<void> | null = null;
  private lastDropLog = 0;
  /** Counters for status, metrics and tests. */
  readonly stats = { scheduled: 0, dropped: 0 };

  constructor(private readonly options: SecondDeleteQueueOptions) {
    if (!Number.isSafeInteger(options.delayMs) || options.delayMs < 1) {
      throw new RangeError(
        `SecondDeleteQueue option delayMs must be a positive integer, got ${options.delayMs}`,
      );
    }
    this.log = options.logger.child({ component: 'second-delete' });
    this.maxPending = options.maxPending ?? 10_000;
    this.queue = new Queue<SecondDeleteJobData>(SECOND_DELETE_QUEUE, {
      connection: options.connection,
      prefix: options.prefix ?? RedisKeys.jobsPrefix('main'),
    });
    logErrors(this.queue, this.log, 'second-delete queue');
  }

  /** The underlying BullMQ queue (job counts, delayed jobs). */
  get bull(): Queue<SecondDeleteJobData> {
    return this.queue;
  }

  /** Waits until the queue's connection is ready. */
  async start(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  /** Schedules the second delete of `keys` in the background (the sink's `onBatchAcked`). */
  schedule(keys: readonly string[]): void {
    if (keys.length === 0) return;
    if (this.closing !== null || this.pending.size >= this.maxPending) {
      this.dropped(keys.length, this.closing !== null ? 'closed' : 'too many pending adds');
      return;
    }
    const p = this.add(keys).then(
      () => {
        this.stats.scheduled++;
      },
      (err: unknown) => this.dropped(keys.length, (err as Error).message),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Adds the delayed job for `keys` and waits for Redis to store it. */
  async add(keys: readonly string[]): Promise<void> {
    await this.queue.add(
      'delete',
      { v: 1, keys: [...keys] },
      {
        delay: this.options.delayMs,
        // The second delete is idempotent: retried while Redis hiccups.
        attempts: 5,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: { count: 1000 },
      },
    );
  }

  /**
   * Waits up to `timeoutMs` for adds in flight (the last batches of a
   * stopping daemon), then closes the queue (not the connection). Idempotent.
   */
  close(timeoutMs = 2000): Promise<void> {
    this.closing ??= (async () => {
      await withTimeout(Promise.allSettled([...this.pending]), timeoutMs);
      if (this.pending.size > 0) {
        this.log.warn(
          { pending: this.pending.size },
          'second-delete queue closed with adds pending',
        );
      }
      await this.queue.close().catch(() => undefined);
    })();
    return this.closing;
  }

  private dropped(keys: number, reason: string): void {
    this.stats.dropped++;
    const now = systemClock.now();
    if (now - this.lastDropLog < 5000) return;
    this.lastDropLog = now;
    this.log.warn(
      { code: 'E_REDIS', keys, reason, droppedBatches: this.stats.dropped },
      'second delete not scheduled: these keys were deleted once only',
    );
  }
}
