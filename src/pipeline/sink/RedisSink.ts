import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import {
  execBySlot,
  publishInOrder,
  unlinkCommands,
  unlinkMatching,
  type SlotCommand,
} from '../../infra/clusterCommands.js';
import { isCluster } from '../../infra/redis.js';
import { keySlot } from '../../keys/slot.js';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { encodeCheckpoint, type Checkpoint } from '../checkpoint/CheckpointStore.js';
import { formatPosition } from '../position.js';
import { encodeHeartbeat, encodeInvalidation } from './message.js';

export interface RedisSinkOptions {
  /** A single Redis, or a Redis Cluster (see the class comment). */
  readonly redis: Redis | Cluster;
  /** `source.name`: the message `src` and the checkpoint's name. */
  readonly source: string;
  readonly channel: string;
  readonly batchMaxKeys: number;
  readonly batchMaxDelayMs: number;
  /** Above this many unacknowledged keys the source is paused (rule 4). */
  readonly maxInFlightKeys: number;
  /** Bus heartbeat period; 0 disables it (replay). */
  readonly heartbeatMs: number;
  /** Where acknowledged boundaries are stored; null for replays (never move the checkpoint). */
  readonly checkpointKey: string | null;
  /**
   * High availability: the checkpoint is written only while the fencing
   * counter still holds this leader's token; a stale token halts the sink
   * with E_FENCED (an old leader that woke up cannot move the checkpoint).
   */
  readonly fence?: { readonly key: string; readonly token: () => number };
  /** Optional rate limit for deletes (replay --max-keys-per-sec). */
  readonly maxKeysPerSec?: number;
  readonly logger: Logger;
  /** Called with true when the source must pause, false when it may resume. */
  readonly onBackpressure?: (pause: boolean) => void;
  /** Called once when the sink halts on a coded error (fenced off, barrier failure). */
  readonly onHalt?: (err: SluiceError) => void;
  /** Called after a checkpoint write was acknowledged. */
  readonly onCheckpoint?: (cp: Checkpoint) => void;
  /** Called with a batch's keys after Redis acknowledged their UNLINK + PUBLISH (the delayed second delete). */
  readonly onBatchAcked?: (keys: readonly string[]) => void;
}

type Item =
  | { readonly kind: 'keys'; readonly keys: Set<string>; readonly boundary: Checkpoint | null }
  | {
      readonly kind: 'patterns';
      readonly patterns: readonly string[];
      readonly flushAll: boolean;
      readonly boundary: Checkpoint | null;
    }
  | {
      readonly kind: 'barrier';
      readonly run: () => Promise<void>;
      readonly boundary: Checkpoint | null;
    };

/**
 * fenced-set: KEYS[1] fencing counter, KEYS[2] checkpoint key; ARGV[1] token,
 * ARGV[2] checkpoint JSON. Writes only if the counter equals the token.
 * Returns 1 if written, 0 if fenced off.
 */
const FENCED_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0`;

/** Arguments per UNLINK command (keys and their lease keys). */
const UNLINK_CHUNK = 1000;
const SCAN_COUNT = 1000;

/**
 * The invalidation sink. Keys from row events and transactions are gathered
 * into a de-duplicated batch, bounded by key count and a short delay; each
 * batch goes out as one pipeline: variadic UNLINKs of the keys and their
 * lease keys, then one PUBLISH. Batches are sent strictly one after another,
 * and a transaction boundary becomes the stored checkpoint only after the
 * pipeline that carried its keys was acknowledged (rule 1); the checkpoint
 * write itself rides at the head of the next pipeline, off the hot path.
 * Failures are retried with backoff forever: an invalidation is never dropped.
 *
 * On a Redis Cluster a multi-key UNLINK must stay in one slot and a pipeline
 * on one node: a batch becomes one UNLINK per slot, sent as one pipeline per
 * node, all nodes at once; the PUBLISH follows only once every node has
 * acknowledged (a subscriber that drops its L1 copy on the message must not
 * re-read the old value from a node that has not deleted it yet). The
 * pending checkpoint (its keys and the fencing counter share one slot)
 * rides in its node's pipeline of the next batch, as above: it only claims
 * batches that are already acknowledged. Key-space flushes SCAN every master.
 */
export class RedisSink {
  private readonly log: Logger;
  private current = new Set<string>();
  private currentBoundary: Checkpoint | null = null;
  private readonly queue: Item[] = [];
  private queuedKeys = 0;
  private timer: NodeJS.Timeout | null = null;
  private hbTimer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private backpressure = false;
  private closed = false;
  /** Acknowledged boundary not yet written as the checkpoint. */
  private pendingCheckpoint: Checkpoint | null = null;
  private lastPos: string | undefined;
  private seqValue = 0;
  private failures = 0;
  private rateWindowStart = Date.now();
  private rateWindowKeys = 0;
  private drainWaiters: Array<() => void> = [];
  /** The cluster client, or null for a single Redis (the plain pipeline path). */
  private readonly cluster: Cluster | null;

  /** Counters for status and metrics. */
  readonly stats = {
    batches: 0,
    keys: 0,
    publishes: 0,
    checkpoints: 0,
    retries: 0,
    patternKeys: 0,
  };
  storedCheckpoint: Checkpoint | null = null;

  constructor(private readonly options: RedisSinkOptions) {
    this.log = options.logger.child({ component: 'sink' });
    this.cluster = isCluster(options.redis) ? options.redis : null;
    if (options.heartbeatMs > 0) {
      this.hbTimer = setInterval(() => this.heartbeat(), options.heartbeatMs);
      this.hbTimer.unref();
    }
  }

  /** The last published sequence number (heartbeats repeat it). */
  get seq(): number {
    return this.seqValue;
  }

  /** Keys gathered but not yet acknowledged by Redis. */
  get inFlightKeys(): number {
    return this.current.size + this.queuedKeys;
  }

  /** The open batch: the mapper adds keys straight into it; call `added()` after. */
  get batch(): Set<string> {
    return this.current;
  }

  /** Seals the open batch if it is full and arms the delay timer. */
  added(): void {
    if (this.current.size >= this.options.batchMaxKeys) this.seal();
    else this.arm();
  }

  /** A transaction boundary: once everything before it is acknowledged it becomes the checkpoint. */
  boundary(cp: Checkpoint): void {
    this.currentBoundary = cp;
    this.lastPos = formatPosition(cp.position);
    this.arm();
  }

  /** Removes whole key spaces (TRUNCATE/DROP, position-lost flush), in order with the key batches. */
  flushPatterns(patterns: readonly string[], flushAll: boolean, boundary: Checkpoint | null): void {
    this.seal();
    this.enqueue({ kind: 'patterns', patterns, flushAll, boundary });
  }

  /** Runs `run` after everything before it is acknowledged, before anything after it. */
  barrier(run: () => Promise<void>, boundary: Checkpoint | null = null): void {
    this.seal();
    this.enqueue({ kind: 'barrier', run, boundary });
  }

  /** Resolves once every batch handed over so far is acknowledged and the checkpoint written. */
  async drain(): Promise<void> {
    if (this.closed) return;
    this.seal();
    this.kick();
    if (this.idle()) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops timers after draining; idempotent. Pending work is abandoned after `timeoutMs`. */
  async close(timeoutMs = 4000): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.drain().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.closed = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.timer) clearTimeout(this.timer);
    if (!finished) {
      this.log.warn(
        { inFlightKeys: this.inFlightKeys, code: 'E_SHUTDOWN_TIMEOUT' },
        'sink closed with unacknowledged work; it will be re-read from the checkpoint',
      );
    }
  }

  /** Stops all processing at once; queued work is abandoned (it is re-read from the checkpoint). */
  halt(): void {
    this.closed = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.timer) clearTimeout(this.timer);
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private idle(): boolean {
    return (
      this.loop === null &&
      this.queue.length === 0 &&
      this.current.size === 0 &&
      this.currentBoundary === null &&
      this.pendingCheckpoint === null
    );
  }

  private arm(): void {
    if (this.timer !== null || this.loop !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.seal();
    }, this.options.batchMaxDelayMs);
  }

  private seal(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.current.size > 0 || this.currentBoundary !== null) {
      const item: Item = { kind: 'keys', keys: this.current, boundary: this.currentBoundary };
      this.current = new Set();
      this.currentBoundary = null;
      this.enqueue(item);
    } else {
      this.kick();
    }
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    if (item.kind === 'keys') this.queuedKeys += item.keys.size;
    this.checkBackpressure();
    this.kick();
  }

  private kick(): void {
    if (this.loop !== null || this.closed) return;
    if (this.queue.length === 0 && this.pendingCheckpoint === null) {
      this.notifyDrained();
      return;
    }
    this.loop = this.run().finally(() => {
      this.loop = null;
      // Work that arrived while the last pipeline was in flight: send it now.
      if (this.current.size > 0 || this.currentBoundary !== null) this.seal();
      else this.kick();
    });
  }

  private notifyDrained(): void {
    if (this.current.size > 0 || this.currentBoundary !== null) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private checkBackpressure(): void {
    const inFlight = this.inFlightKeys;
    if (!this.backpressure && inFlight > this.options.maxInFlightKeys) {
      this.backpressure = true;
      this.log.info({ inFlightKeys: inFlight }, 'backpressure: pausing the binlog');
      this.options.onBackpressure?.(true);
    } else if (this.backpressure && inFlight <= this.options.maxInFlightKeys / 2) {
      this.backpressure = false;
      this.log.info({ inFlightKeys: inFlight }, 'backpressure released: resuming the binlog');
      this.options.onBackpressure?.(false);
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      const item = this.queue[0];
      if (item === undefined && this.pendingCheckpoint === null) return;
      try {
        await this.withRetry(() => this.execute(item ?? null));
      } catch (err) {
        // A coded error from a barrier (e.g. E_SCHEMA_MISMATCH with policy
        // fail): stop here for good, so the checkpoint never passes it.
        this.halt();
        this.log.error({ code: (err as SluiceError).code }, 'sink halted');
        if (err instanceof SluiceError) this.options.onHalt?.(err);
        return;
      }
      if (item !== undefined) {
        this.queue.shift();
        if (item.kind === 'keys') this.queuedKeys -= item.keys.size;
        // A replay (no checkpoint key) never stores boundaries.
        if (item.boundary !== null && this.options.checkpointKey !== null) {
          this.pendingCheckpoint = item.boundary;
        }
        this.checkBackpressure();
      }
      if (this.closed) return;
    }
  }

  /** Sends one item (or only the pending checkpoint when `item` is null). */
  private async execute(item: Item | null): Promise<void> {
    const cp = this.options.checkpointKey === null ? null : this.pendingCheckpoint;
    if (item?.kind === 'keys' && item.keys.size > 0) await this.rateLimit(item.keys.size);
    const published =
      this.cluster === null
        ? await this.sendPipeline(this.options.redis as Redis, cp, item)
        : await this.sendToCluster(this.cluster, cp, item);
    if (cp !== null) {
      this.storedCheckpoint = cp;
      if (this.pendingCheckpoint === cp) this.pendingCheckpoint = null;
      this.stats.checkpoints++;
      this.options.onCheckpoint?.(cp);
    }
    if (published !== null && item?.kind === 'keys') {
      this.seqValue++;
      this.stats.batches++;
      this.stats.publishes++;
      this.stats.keys += item.keys.size;
      this.batchAcked(published);
    }
    if (item?.kind === 'patterns') await this.flushKeySpace(item);
    if (item?.kind === 'barrier') await item.run();
  }

  /**
   * A single Redis: the checkpoint, the UNLINKs and the PUBLISH in one
   * pipeline. Returns the published keys (null when nothing was published).
   */
  private async sendPipeline(
    redis: Redis,
    cp: Checkpoint | null,
    item: Item | null,
  ): Promise<string[] | null> {
    const pipe = redis.pipeline();
    // The checkpoint of an already acknowledged batch goes first: ordered
    // before this batch's work, it never claims keys that are not yet deleted.
    const fence = this.options.fence;
    if (cp !== null && this.options.checkpointKey !== null) {
      if (fence === undefined) pipe.set(this.options.checkpointKey, encodeCheckpoint(cp));
      else
        pipe.eval(
          FENCED_SET,
          2,
          fence.key,
          this.options.checkpointKey,
          fence.token(),
          encodeCheckpoint(cp),
        );
    }
    let published: string[] | null = null;
    if (item?.kind === 'keys' && item.keys.size > 0) {
      let args: string[] = [];
      for (const key of item.keys) {
        args.push(key, RedisKeys.lease(key));
        if (args.length >= UNLINK_CHUNK) {
          pipe.unlink(args);
          args = [];
        }
      }
      if (args.length > 0) pipe.unlink(args);
      const pos = item.boundary ? formatPosition(item.boundary.position) : this.lastPos;
      published = [...item.keys];
      pipe.publish(
        this.options.channel,
        encodeInvalidation(this.options.source, this.seqValue + 1, {
          keys: published,
          ...(pos === undefined ? {} : { pos }),
        }),
      );
    }
    if (pipe.length > 0) {
      const results = (await pipe.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      if (cp !== null && fence !== undefined && Number(results[0]?.[1]) !== 1) {
        throw this.fenced(fence);
      }
    }
    return published;
  }

  /**
   * A Redis Cluster: the UNLINKs per slot and the pending checkpoint, in one
   * pipeline per node, all nodes at once; then, once all acknowledged, the
   * PUBLISH. Returns the published keys (null when nothing was published).
   */
  private async sendToCluster(
    cluster: Cluster,
    cp: Checkpoint | null,
    item: Item | null,
  ): Promise<string[] | null> {
    const commands: SlotCommand[] = [];
    const key = this.options.checkpointKey;
    const fence = this.options.fence;
    if (cp !== null && key !== null) {
      // The fencing counter shares the checkpoint key's slot (RedisKeys).
      commands.push({
        slot: keySlot(key),
        args:
          fence === undefined
            ? ['set', key, encodeCheckpoint(cp)]
            : ['eval', FENCED_SET, 2, fence.key, key, fence.token(), encodeCheckpoint(cp)],
      });
    }
    const hasKeys = item?.kind === 'keys' && item.keys.size > 0;
    if (hasKeys) {
      const args: string[] = [];
      for (const k of item.keys) args.push(k, RedisKeys.lease(k));
      commands.push(...unlinkCommands(args, UNLINK_CHUNK));
    }
    if (commands.length > 0) {
      const replies = await execBySlot(cluster, commands);
      if (cp !== null && key !== null && fence !== undefined && Number(replies[0]) !== 1) {
        throw this.fenced(fence);
      }
    }
    if (!hasKeys) return null;
    const pos = item.boundary ? formatPosition(item.boundary.position) : this.lastPos;
    const published = [...item.keys];
    await publishInOrder(
      cluster,
      this.options.channel,
      encodeInvalidation(this.options.source, this.seqValue + 1, {
        keys: published,
        ...(pos === undefined ? {} : { pos }),
      }),
    );
    return published;
  }

  private fenced(fence: NonNullable<RedisSinkOptions['fence']>): SluiceError {
    return new SluiceError(
      'E_FENCED',
      `checkpoint write refused: fencing token ${fence.token()} is stale (another instance leads)`,
    );
  }

  /** Hands an acknowledged batch to `onBatchAcked`; its failure never fails the batch. */
  private batchAcked(keys: readonly string[]): void {
    if (this.options.onBatchAcked === undefined) return;
    try {
      this.options.onBatchAcked(keys);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'onBatchAcked failed');
    }
  }

  private async flushKeySpace(item: Extract<Item, { kind: 'patterns' }>): Promise<void> {
    const { redis } = this.options;
    const globs = item.patterns.flatMap((p) => [p, ...RedisKeys.leasePatterns(p)]);
    let removed = 0;
    if (this.cluster !== null) {
      // Every master knows only its own keys; each page is unlinked per slot.
      removed = await unlinkMatching(this.cluster, globs, SCAN_COUNT);
    } else {
      const single = redis as Redis;
      for (const glob of globs) {
        let cursor = '0';
        do {
          const [next, keys] = await single.scan(cursor, 'MATCH', glob, 'COUNT', SCAN_COUNT);
          cursor = next;
          if (keys.length > 0) removed += await single.unlink(keys);
        } while (cursor !== '0');
      }
    }
    const pos = item.boundary ? formatPosition(item.boundary.position) : this.lastPos;
    const message = encodeInvalidation(this.options.source, this.seqValue + 1, {
      patterns: item.patterns,
      flush: item.flushAll,
      ...(pos === undefined ? {} : { pos }),
    });
    if (this.cluster !== null) await publishInOrder(this.cluster, this.options.channel, message);
    else await redis.publish(this.options.channel, message);
    this.seqValue++;
    this.stats.publishes++;
    this.stats.patternKeys += removed;
    this.log.info(
      { patterns: item.patterns, flushAll: item.flushAll, removed },
      'key space flushed',
    );
  }

  private async withRetry(fn: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        await fn();
        if (this.failures > 0) this.log.info({ after: this.failures }, 'redis recovered');
        this.failures = 0;
        return;
      } catch (err) {
        if (err instanceof SluiceError) throw err;
        this.failures++;
        this.stats.retries++;
        const delay = Math.min(2000, 50 * 2 ** Math.min(this.failures, 6));
        const level = this.failures === 1 || this.failures % 20 === 0 ? 'warn' : 'debug';
        this.log[level](
          {
            code: 'E_REDIS',
            err: (err as Error).message,
            attempt: this.failures,
            retryInMs: delay,
          },
          'redis write failed; retrying without advancing the checkpoint',
        );
        if (this.closed) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async rateLimit(keys: number): Promise<void> {
    const limit = this.options.maxKeysPerSec;
    if (limit === undefined || limit <= 0) return;
    this.rateWindowKeys += keys;
    const elapsed = Date.now() - this.rateWindowStart;
    const due = (this.rateWindowKeys / limit) * 1000;
    if (due > elapsed) await new Promise((r) => setTimeout(r, due - elapsed));
    if (elapsed > 10_000) {
      this.rateWindowStart = Date.now();
      this.rateWindowKeys = 0;
    }
  }

  private heartbeat(): void {
    if (this.closed) return;
    const message = encodeHeartbeat(this.options.source, this.seqValue);
    // On a cluster through the same node as the invalidations: a heartbeat
    // overtaking the message whose seq it repeats would look like a gap.
    (this.cluster === null
      ? this.options.redis.publish(this.options.channel, message)
      : publishInOrder(this.cluster, this.options.channel, message)
    ).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message }, 'heartbeat publish failed');
    });
  }
}
