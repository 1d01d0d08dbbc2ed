import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/schema.js';
import { createPool, type DbPool } from '../db/createPool.js';
import { closeRedis, createRedisClient } from '../infra/redis.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { SecondDeleteQueue } from './SecondDeleteQueue.js';
import { SecondDeleteWorker } from './SecondDeleteWorker.js';
import { WriteBehindWorker } from './WriteBehindWorker.js';

export interface DaemonJobsOptions {
  readonly config: Pick<SluiceConfig, 'source' | 'database' | 'redis' | 'invalidation'>;
  readonly logger: Logger;
}

/**
 * The durable jobs `sluice run` hosts beside the pipeline: the write-behind
 * worker, and with `invalidation.secondDeleteMs > 0` the second-delete queue
 * (fed by the dispatcher: pass `secondDelete` to the Invalidator) and its worker.
 * Queues live under `RedisKeys.jobsPrefix(source.name)`.
 *
 * Everything is built in the constructor without waiting for I/O, so the
 * queue exists before the pipeline acknowledges its first batch. `close()`
 * runs in reverse order of construction (the producer first, so the last
 * batches of a stopping daemon are still scheduled), isolates each part's
 * errors, and is idempotent.
 */
export class DaemonJobs {
  /** The sink's second-delete scheduler, when `secondDeleteMs > 0`. */
  readonly secondDelete: SecondDeleteQueue | undefined;
  private readonly secondDeleteWorker: SecondDeleteWorker | undefined;
  private readonly writeBehind: WriteBehindWorker;
  private readonly connection: Redis | Cluster;
  private readonly db: DbPool;
  private readonly log: Logger;
  private closing: Promise<void> | null = null;

  constructor({ config, logger }: DaemonJobsOptions) {
    this.log = logger.child({ component: 'jobs' });
    const prefix = RedisKeys.jobsPrefix(config.source.name);
    const channel = config.invalidation.channel;
    // BullMQ blocks on its connections: no per-request retry limit. On a
    // cluster its keys share one slot (the hash-tagged jobs prefix).
    this.connection = createRedisClient(config.redis, 'jobs', { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined); // logged by the queues and workers
    this.db = createPool(config.database.url, config.database.pool, logger);
    this.writeBehind = new WriteBehindWorker({
      connection: this.connection,
      prefix,
      pool: this.db.pool,
      channel,
      logger,
    });
    const delayMs = config.invalidation.secondDeleteMs;
    if (delayMs > 0) {
      this.secondDeleteWorker = new SecondDeleteWorker({
        connection: this.connection,
        prefix,
        channel,
        logger,
      });
      this.secondDelete = new SecondDeleteQueue({
        connection: this.connection,
        prefix,
        delayMs,
        logger,
      });
    }
  }

  /** Starts the workers (they wait for Redis in the background). */
  async start(): Promise<void> {
    await this.writeBehind.start();
    await this.secondDeleteWorker?.start();
  }

  /** Closes the queue, then the workers, then their connections. Idempotent; never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const steps: Array<[string, () => Promise<void>]> = [
        ['second-delete queue', async () => this.secondDelete?.close()],
        ['second-delete worker', async () => this.secondDeleteWorker?.close()],
        ['write-behind worker', () => this.writeBehind.close()],
        ['database pool', () => this.db.end()],
        ['redis', () => closeRedis(this.connection)],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.log.warn({ err: (err as Error).message, step: name }, 'close failed');
        }
      }
    })();
    return this.closing;
  }
}
