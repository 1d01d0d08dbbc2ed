import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { SluiceError } from '../errors/index.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { KeyInvalidator } from './KeyInvalidator.js';
import { decodeParams, ParamError } from './params.js';
import { sqlShape } from './sqlShape.js';
import { closeWorker, logErrors } from './workerLifecycle.js';
import { WRITE_BEHIND_QUEUE, type WriteBehindJobData } from './WriteBehindQueue.js';

export interface WriteBehindWorkerOptions {
  /**
   * A connection with `maxRetriesPerRequest: null` (BullMQ blocks on it and
   * duplicates it for its blocking reads). Also used for the invalidation
   * of a failed job's key. Owned by the caller.
   */
  readonly connection: Redis | Cluster;
  /** BullMQ prefix; must match the queue's (default `RedisKeys.jobsPrefix('main')`). */
  readonly prefix?: string;
  /** The database the statements run on (`database.url`). Owned by the caller. */
  readonly pool: Pool;
  /** The invalidation channel (`invalidation.channel`). */
  readonly channel: string;
  readonly logger: Logger;
  /**
   * Jobs run at once (default 1). Above 1, two writes of the same row may
   * reach the database out of order; a retried job may do so at any
   * concurrency, so statements should be last-writer-safe (e.g. versioned).
   */
  readonly concurrency?: number;
}

/**
 * MySQL errors a retry cannot fix: the statement text itself is wrong.
 * Everything else (connection refused or lost, lock wait timeout, deadlock,
 * a table missing during a migration …) is retried with backoff.
 */
const PERMANENT_ERRNOS = new Set([
  1064, // ER_PARSE_ERROR
  1210, // ER_WRONG_ARGUMENTS (parameter count does not match the placeholders)
]);

/**
 * Runs write-behind jobs: each job's parameterized statement on the pool.
 * A failure is retried by BullMQ with the job's backoff; on the final one
 * (attempts exhausted, or a permanent error) the cached value is one the
 * database never got, so the key and its lease are UNLINKed and published
 * on the invalidation channel (every L1 drops it), E_WRITE_BEHIND_FAILED is
 * logged with the key and the statement's shape (never parameter values),
 * and the job stays in the failed set.
 *
 * The invalidation runs inside the last attempt, before BullMQ marks the job
 * failed: a crash in between leaves the job active, it is picked up again
 * as stalled and invalidates again (idempotent). A job failed by BullMQ
 * itself without reaching this code (stalled too often) is invalidated from
 * the 'failed' event.
 */
export class WriteBehindWorker {
  private readonly worker: Worker<WriteBehindJobData>;
  private readonly log: Logger;
  private readonly invalidator: KeyInvalidator;
  /** Jobs whose final failure this worker has already handled. */
  private readonly handled = new WeakSet<Job>();
  private running: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Counters for status, metrics and tests. */
  readonly stats = { completed: 0, retried: 0, failed: 0 };

  constructor(private readonly options: WriteBehindWorkerOptions) {
    this.log = options.logger.child({ component: 'write-behind' });
    this.invalidator = new KeyInvalidator(
      options.connection,
      options.channel,
      'write-behind',
      this.log,
    );
    this.worker = new Worker<WriteBehindJobData>(WRITE_BEHIND_QUEUE, (job) => this.process(job), {
      connection: options.connection,
      prefix: options.prefix ?? RedisKeys.jobsPrefix('main'),
      concurrency: options.concurrency ?? 1,
      autorun: false,
    });
    logErrors(this.worker, this.log, 'write-behind worker');
    this.worker.on('failed', (job, err) => {
      if (job !== undefined && job.finishedOn !== undefined && !this.handled.has(job)) {
        void this.giveUp(job, err);
      }
    });
  }

  /** Starts taking jobs (in the background: it waits for Redis if needed). */
  start(): Promise<void> {
    if (this.running === null && this.closing === null) {
      this.running = this.worker.run().catch((err: unknown) => {
        this.log.error({ code: 'E_INTERNAL', err: (err as Error).message }, 'worker stopped');
      });
      this.log.info({ queue: WRITE_BEHIND_QUEUE }, 'write-behind worker started');
    }
    return Promise.resolve();
  }

  /** Resolves once the worker's connections are ready. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /**
   * Stops taking jobs and waits up to `timeoutMs` for the running ones; a job
   * still running then is abandoned (BullMQ retries it as stalled). Idempotent.
   */
  close(timeoutMs = 3000): Promise<void> {
    // Not awaiting `running`: a run that never got a Redis connection never settles.
    this.closing ??= closeWorker(this.worker, timeoutMs).then((closed) => {
      if (!closed) this.log.warn({ timeoutMs }, 'write-behind worker closed with a job running');
      this.log.info(this.stats, 'write-behind worker stopped');
    });
    return this.closing;
  }

  private async process(job: Job<WriteBehindJobData>): Promise<void> {
    if (!isJobData(job.data)) {
      this.handled.add(job); // no key to invalidate
      this.log.error({ code: 'E_INTERNAL', jobId: job.id }, 'malformed write-behind job: failed');
      throw new UnrecoverableError('malformed write-behind job data');
    }
    const { sql } = job.data;
    try {
      // Values travel as `?` parameters, formatted by mysql2 (as src/db does).
      await this.options.pool.query(sql, decodeParams(job.data.params));
    } catch (err) {
      const permanent = isPermanent(err);
      const attempts = job.opts.attempts ?? 1;
      if (!permanent && job.attemptsMade + 1 < attempts) {
        this.stats.retried++;
        this.log.debug(
          { jobId: job.id, key: job.data.key, attempt: job.attemptsMade + 1, ...errorFields(err) },
          'write-behind attempt failed; retrying',
        );
        throw err;
      }
      this.handled.add(job);
      await this.giveUp(job, err);
      throw permanent ? new UnrecoverableError(errorText(err)) : err;
    }
    this.stats.completed++;
    if (job.attemptsMade > 0) {
      this.log.info(
        { jobId: job.id, key: job.data.key, attempts: job.attemptsMade + 1 },
        'write-behind job succeeded after retries',
      );
    }
  }

  /** The final failure: invalidate the key everywhere, then log the coded error. */
  private async giveUp(job: Job<WriteBehindJobData>, cause: unknown): Promise<void> {
    this.stats.failed++;
    const { key, sql } = job.data;
    let invalidated = true;
    let invalidateError: string | undefined;
    try {
      await this.invalidator.invalidate([key]);
    } catch (err) {
      // Redis is down: BullMQ cannot record the failure either. The value
      // expires with its TTL at the latest.
      invalidated = false;
      invalidateError = (err as Error).message;
    }
    const err = new SluiceError(
      'E_WRITE_BEHIND_FAILED',
      `write-behind of ${key} failed for good; key ${invalidated ? 'invalidated' : 'NOT invalidated'}`,
      {
        cause,
        details: { key, sql: sqlShape(sql), jobId: job.id, attempts: job.attemptsMade + 1 },
      },
    );
    this.log.error(
      {
        code: err.code,
        ...err.details,
        ...errorFields(cause),
        invalidated,
        ...(invalidateError === undefined ? {} : { invalidateError }),
      },
      err.message,
    );
  }
}

interface MysqlError {
  errno?: number;
  code?: string;
  sqlState?: string;
}

function isJobData(data: unknown): data is WriteBehindJobData {
  const d = data as Partial<WriteBehindJobData> | null;
  return typeof d?.key === 'string' && typeof d.sql === 'string' && Array.isArray(d.params);
}

function isPermanent(err: unknown): boolean {
  if (err instanceof ParamError) return true; // undecodable params: no retry changes them
  const errno = (err as MysqlError | null)?.errno;
  return typeof errno === 'number' && PERMANENT_ERRNOS.has(errno);
}

/**
 * What may be logged of a failure. A MySQL error's message can quote a value
 * ("Duplicate entry 'a@b' …"), so for those only the codes are kept; other
 * errors (connection refused, timeouts) are logged with their message.
 */
function errorFields(err: unknown): Record<string, unknown> {
  const e = err as MysqlError & { message?: string };
  if (typeof e?.errno === 'number' && typeof e.sqlState === 'string') {
    return { errno: e.errno, errCode: e.code, sqlState: e.sqlState };
  }
  return { err: typeof e?.message === 'string' ? e.message : String(err) };
}

function errorText(err: unknown): string {
  const f = errorFields(err);
  return typeof f.err === 'string'
    ? f.err
    : `MySQL error ${String(f.errCode)} (${String(f.errno)})`;
}
