import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { WriteBehindSink } from '../cache/SluiceCache.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { encodeParams, type JsonParam } from './params.js';

/** The BullMQ queue name of write-behind jobs (under the jobs prefix). */
export const WRITE_BEHIND_QUEUE = 'write-behind';

/** A write-behind job's data: the key the value was cached under and the statement that persists it. */
export interface WriteBehindJobData {
  readonly v: 1;
  readonly key: string;
  readonly sql: string;
  readonly params: readonly JsonParam[];
}

export interface WriteBehindQueueOptions {
  /**
   * A connection for the producer. It may fail fast (`maxRetriesPerRequest: 1`):
   * a write-behind whose job cannot be queued deletes its key and throws.
   */
  readonly connection: Redis | Cluster;
  /** BullMQ prefix; must match the worker's (default `RedisKeys.jobsPrefix('main')`). */
  readonly prefix?: string;
  /** Tries per job, the first included (default 8). */
  readonly attempts?: number;
  /** Base of the exponential backoff between tries, in ms (default 200: 200, 400, 800 …). */
  readonly backoffMs?: number;
  /** How many finally failed jobs to keep for inspection (default 10,000). */
  readonly keepFailed?: number;
}

/**
 * The producer side of write-behind: `SluiceCache.writeBehind` puts the
 * value into the cache and hands the database write to `enqueue`, which
 * stores it as a durable BullMQ job, retried with exponential backoff by
 * the WriteBehindWorker that `sluice run` hosts.
 *
 * ```ts
 * const writeBehind = new WriteBehindQueue({ connection: new Redis(url), prefix: RedisKeys.jobsPrefix('main') });
 * const cache = new SluiceCache({ redis, writeBehind });
 * await cache.writeBehind('user:1', user, { sql: 'UPDATE users SET name = ? WHERE id = ?', params: [user.name, 1] });
 * ```
 */
export class WriteBehindQueue implements WriteBehindSink {
  private readonly queue: Queue<WriteBehindJobData>;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly keepFailed: number;
  private closing: Promise<void> | null = null;

  constructor(options: WriteBehindQueueOptions) {
    this.attempts = positiveInt(options.attempts ?? 8, 'attempts');
    this.backoffMs = positiveInt(options.backoffMs ?? 200, 'backoffMs');
    this.keepFailed = positiveInt(options.keepFailed ?? 10_000, 'keepFailed');
    this.queue = new Queue<WriteBehindJobData>(WRITE_BEHIND_QUEUE, {
      connection: options.connection,
      prefix: options.prefix ?? RedisKeys.jobsPrefix('main'),
    });
    // Connection errors surface as rejected adds; without a listener an
    // 'error' event would crash the process.
    this.queue.on('error', () => undefined);
  }

  /** The underlying BullMQ queue (job counts, the failed set). */
  get bull(): Queue<WriteBehindJobData> {
    return this.queue;
  }

  /** Waits until the queue's connection is ready. */
  async start(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  /**
   * Stores the database write as a durable job. Parameters are encoded for
   * JSON here (a BigInt becomes its decimal string), so a bad parameter
   * throws at once, while the caller can still undo its cache write.
   */
  async enqueue(job: { key: string; sql: string; params: readonly unknown[] }): Promise<void> {
    await this.add(job);
  }

  /** `enqueue`, returning the job id. */
  async add(job: { key: string; sql: string; params: readonly unknown[] }): Promise<string> {
    if (this.closing !== null) throw new Error('WriteBehindQueue is closed');
    const data: WriteBehindJobData = {
      v: 1,
      key: job.key,
      sql: job.sql,
      params: encodeParams(job.params),
    };
    const added = await this.queue.add('write', data, {
      attempts: this.attempts,
      backoff: { type: 'exponential', delay: this.backoffMs },
      removeOnComplete: true,
      removeOnFail: { count: this.keepFailed },
    });
    return added.id ?? '';
  }

  /** Closes the queue (not the connection, which the caller owns); idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.close();
    return this.closing;
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `WriteBehindQueue option ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}
