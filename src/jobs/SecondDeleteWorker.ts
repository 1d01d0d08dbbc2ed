import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RedisKeys } from '../keys/RedisKeys.js';
import { KeyInvalidator } from './KeyInvalidator.js';
import { SECOND_DELETE_QUEUE, type SecondDeleteJobData } from './SecondDeleteQueue.js';
import { closeWorker, logErrors } from './workerLifecycle.js';

export interface SecondDeleteWorkerOptions {
  /**
   * A connection with `maxRetriesPerRequest: null` (BullMQ duplicates it for
   * its blocking reads); also carries the UNLINK + PUBLISH. Owned by the caller.
   */
  readonly connection: Redis | Cluster;
  /** BullMQ prefix; must match the queue's (default `RedisKeys.jobsPrefix('main')`). */
  readonly prefix?: string;
  /** The invalidation channel (`invalidation.channel`). */
  readonly channel: string;
  readonly logger: Logger;
  /** Jobs run at once (default 4): deletes are idempotent and order-free. */
  readonly concurrency?: number;
}

/**
 * The delayed double delete, worker side: when a job's delay has passed it
 * UNLINKs the batch's keys and their leases again and publishes them on the
 * invalidation channel (its own `src`), so a value set in between is gone
 * from L2 and from every L1. Hosted by `sluice run`.
 */
export class SecondDeleteWorker {
  private readonly worker: Worker<SecondDeleteJobData>;
  private readonly log: Logger;
  private readonly invalidator: KeyInvalidator;
  private running: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Counters for status, metrics and tests. */
  readonly stats = { jobs: 0, keys: 0 };

  constructor(options: SecondDeleteWorkerOptions) {
    this.log = options.logger.child({ component: 'second-delete' });
    this.invalidator = new KeyInvalidator(
      options.connection,
      options.channel,
      'second-delete',
      this.log,
    );
    this.worker = new Worker<SecondDeleteJobData>(SECOND_DELETE_QUEUE, (job) => this.process(job), {
      connection: options.connection,
      prefix: options.prefix ?? RedisKeys.jobsPrefix('main'),
      concurrency: options.concurrency ?? 4,
      autorun: false,
    });
    logErrors(this.worker, this.log, 'second-delete worker');
  }

  /** The `src` of this worker's invalidation messages. */
  get publisherId(): string {
    return this.invalidator.publisherId;
  }

  /** Starts taking jobs (in the background: it waits for Redis if needed). */
  start(): Promise<void> {
    if (this.running === null && this.closing === null) {
      this.running = this.worker.run().catch((err: unknown) => {
        this.log.error({ code: 'E_INTERNAL', err: (err as Error).message }, 'worker stopped');
      });
      this.log.info({ queue: SECOND_DELETE_QUEUE }, 'second-delete worker started');
    }
    return Promise.resolve();
  }

  /** Resolves once the worker's connections are ready. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking jobs, waiting up to `timeoutMs` for running ones. Idempotent. */
  close(timeoutMs = 2000): Promise<void> {
    // Not awaiting `running`: a run that never got a Redis connection never settles.
    this.closing ??= closeWorker(this.worker, timeoutMs).then((closed) => {
      if (!closed) this.log.warn({ timeoutMs }, 'second-delete worker closed with a job running');
      this.log.info(this.stats, 'second-delete worker stopped');
    });
    return this.closing;
  }

  private async process(job: Job<SecondDeleteJobData>): Promise<void> {
    const keys: unknown = job.data?.keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
      this.log.error({ code: 'E_INTERNAL', jobId: job.id }, 'malformed second-delete job: failed');
      throw new UnrecoverableError('malformed second-delete job data');
    }
    await this.invalidator.invalidate(keys);
    this.stats.jobs++;
    this.stats.keys += keys.length;
    this.log.debug({ jobId: job.id, keys: keys.length }, 'second delete done');
  }
}
