import type { Cluster, Pipeline, Redis } from 'ioredis';
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
import { formatPosition, type BinlogPosition } from '../position.js';
import { encodeHeartbeat, encodeInvalidation } from '../../bus/codec.js';
import { UnlinkCommand } from './UnlinkCommand.js';

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
/** Most keys one round trip carries when sealed batches queue up behind a slow Redis. */
const PIPELINE_MAX_KEYS = 10_000;
/**
 * How long an acknowledged boundary waits for a batch to carry it before it
 * is written on its own, and under load the least time between two writes:
 * a pipeline carries the latest one if the last write is this old, so the
 * checkpoint costs no round trip of its own and at most ~100 writes a
 * second; when the stream goes quiet it is stored this much later (a
 * restart re-reads at most that).
 */
const CHECKPOINT_DELAY_MS = 10;
/**
 * When keys wait for company. A transaction's keys go out at its commit
 * unless commits already share round trips: if at least this share of recent
 * commits (moving average) arrived while a pipeline was in flight or while an
 * earlier transaction was still waiting in the open batch, commits come in
 * faster than Redis round trips end, and each transaction waits up to
 * batchMaxDelayMs for others: a round trip costs more CPU than decoding a
 * small transaction (docs/benchmarks.md, sustained load). A client that waits
 * for each invalidation before its next write (the live-latency path) never
 * overlaps, so its commits always go out at once.
 */
const STREAM_SHARE = 0.25;

/**
 * The invalidation sink. Keys from row events and transactions are gathered
 * into a de-duplicated batch, bounded by key count and a short delay; each
 * batch goes out as one pipeline: variadic UNLINKs of the keys and their
 * lease keys, then one PUBLISH. A transaction with keys goes out at its
 * commit when nothing is in flight; otherwise what gathers is sent when the
 * pipeline in flight is acknowledged, with every sealed batch queued by then
 * in that one round trip (each keeps its own PUBLISH). While commits stream
 * in faster than round trips end (STREAM_SHARE), keys wait up to
 * batchMaxDelayMs for company instead. Pipelines go strictly
 * one after another, and a transaction boundary becomes the stored
 * checkpoint only after the pipeline that carried its keys was acknowledged
 * (rule 1); the checkpoint write itself rides at the head of the next
 * pipeline, off the hot path (alone only after CHECKPOINT_DELAY_MS of quiet),
 * and under a steady stream at most once per CHECKPOINT_DELAY_MS.
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
  private checkpointTimer: NodeJS.Timeout | null = null;
  /** The pending checkpoint waited CHECKPOINT_DELAY_MS: write it even without a batch. */
  private checkpointDue = false;
  private loop: Promise<void> | null = null;
  private backpressure = false;
  private closed = false;
  /** Acknowledged boundary not yet written as the checkpoint. */
  private pendingCheckpoint: Checkpoint | null = null;
  /** Moving average: the share of recent commits that found a round trip or a transaction pending. */
  private sharedCommits = 0;
  /** Date.now() of the last checkpoint write. */
  private lastCheckpointWrite = 0;
  /** The last boundary seen: the `pos` of a batch sealed between boundaries. */
  private lastBoundary: BinlogPosition | undefined;
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
    if (this.current.size > 0) this.commitSeen();
    this.currentBoundary = cp;
    this.lastBoundary = cp.position;
    // Nothing in flight and no stream of commits: the transaction's keys go
    // out now, no batching delay.
    if (this.loop === null && this.current.size > 0 && !this.streaming()) this.seal();
    else this.arm();
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
    if (this.idle()) return;
    const drained = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    this.kick(); // with a waiter the pending checkpoint is written at once
    await drained;
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
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
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
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
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

  /** The position a batch's message names: its boundary, else the last one seen (formatted once per batch, not per commit). */
  private posOf(item: { readonly boundary: Checkpoint | null }): string | undefined {
    const at = item.boundary?.position ?? this.lastBoundary;
    return at === undefined ? undefined : formatPosition(at);
  }

  /** Updates the moving average of commits that share a round trip (call before recording the boundary). */
  private commitSeen(): void {
    const shared = this.loop !== null || this.currentBoundary !== null;
    this.sharedCommits = this.sharedCommits * 0.9 + (shared ? 0.1 : 0);
  }

  /** True while commits stream in faster than round trips end (STREAM_SHARE). */
  private streaming(): boolean {
    return this.sharedCommits >= STREAM_SHARE;
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
    if (this.queue.length === 0 && !this.checkpointWanted()) {
      if (this.pendingCheckpoint === null) this.notifyDrained();
      else
        this.checkpointTimer ??= setTimeout(() => {
          this.checkpointTimer = null;
          this.checkpointDue = true;
          this.kick();
        }, CHECKPOINT_DELAY_MS);
      return;
    }
    this.loop = this.run().finally(() => {
      this.loop = null;
      // Work that arrived while the last pipeline was in flight: send it now
      // (in a stream of commits: once the batching delay has passed).
      if (this.current.size > 0 || this.currentBoundary !== null) {
        if (this.streaming() && !this.closed && this.drainWaiters.length === 0) this.arm();
        else this.seal();
      } else this.kick();
    });
  }

  /**
   * The checkpoint this round trip writes: the pending one, at most once per
   * CHECKPOINT_DELAY_MS under a steady stream of batches (each write is a
   * command and a JSON record; a restart re-reads at most that much more),
   * at once when it is due or someone waits for a drain.
   */
  private checkpointToWrite(): Checkpoint | null {
    const cp = this.options.checkpointKey === null ? null : this.pendingCheckpoint;
    if (cp === null || this.checkpointWanted()) return cp;
    return Date.now() - this.lastCheckpointWrite >= CHECKPOINT_DELAY_MS ? cp : null;
  }

  /** Whether the pending checkpoint goes out even with no batch to carry it. */
  private checkpointWanted(): boolean {
    return this.pendingCheckpoint !== null && (this.checkpointDue || this.drainWaiters.length > 0);
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
      const items = this.nextItems();
      if (items.length === 0 && !this.checkpointWanted()) return;
      try {
        await this.withRetry(() => this.execute(items));
      } catch (err) {
        // A coded error from a barrier (e.g. E_SCHEMA_MISMATCH with policy
        // fail): stop here for good, so the checkpoint never passes it.
        this.halt();
        this.log.error({ code: (err as SluiceError).code }, 'sink halted');
        if (err instanceof SluiceError) this.options.onHalt?.(err);
        return;
      }
      for (const item of items) {
        this.queue.shift();
        if (item.kind === 'keys') this.queuedKeys -= item.keys.size;
        // A replay (no checkpoint key) never stores boundaries.
        if (item.boundary !== null && this.options.checkpointKey !== null) {
          this.pendingCheckpoint = item.boundary;
        }
      }
      if (items.length > 0) this.checkBackpressure();
      if (this.closed) return;
    }
  }

  /**
   * What the next round trip carries: on a single Redis the queued key
   * batches up to PIPELINE_MAX_KEYS keys; otherwise (a flush, a barrier, a
   * cluster) the first item alone.
   */
  private nextItems(): Item[] {
    const first = this.queue[0];
    if (first === undefined) return [];
    if (first.kind !== 'keys' || this.cluster !== null) return [first];
    const items: Item[] = [first];
    let keys = first.keys.size;
    for (let i = 1; i < this.queue.length; i++) {
      const next = this.queue[i] as Item;
      if (next.kind !== 'keys' || keys + next.keys.size > PIPELINE_MAX_KEYS) break;
      items.push(next);
      keys += next.keys.size;
    }
    return items;
  }

  /** Sends `items` in one round trip (with none: only the pending checkpoint). */
  private async execute(items: readonly Item[]): Promise<void> {
    const cp = this.checkpointToWrite();
    let keyCount = 0;
    for (const item of items) if (item.kind === 'keys') keyCount += item.keys.size;
    if (keyCount > 0) await this.rateLimit(keyCount);
    const first = items[0] ?? null;
    let published: string[][];
    if (this.cluster === null) {
      published = await this.sendPipeline(this.options.redis as Redis, cp, items);
    } else {
      const keys = await this.sendToCluster(this.cluster, cp, first);
      published = keys === null ? [] : [keys];
    }
    if (cp !== null) {
      this.lastCheckpointWrite = Date.now();
      this.storedCheckpoint = cp;
      if (this.pendingCheckpoint === cp) this.pendingCheckpoint = null;
      this.checkpointDue = false;
      if (this.checkpointTimer !== null) clearTimeout(this.checkpointTimer);
      this.checkpointTimer = null;
      this.stats.checkpoints++;
      this.options.onCheckpoint?.(cp);
    }
    for (const keys of published) {
      this.seqValue++;
      this.stats.batches++;
      this.stats.publishes++;
      this.stats.keys += keys.length;
      this.batchAcked(keys);
    }
    if (first?.kind === 'patterns') await this.flushKeySpace(first);
    if (first?.kind === 'barrier') await first.run();
  }

  /**
   * A single Redis: the checkpoint, then per key batch its UNLINKs and its
   * PUBLISH, in one pipeline. Returns the published keys of each batch.
   */
  private async sendPipeline(
    redis: Redis,
    cp: Checkpoint | null,
    items: readonly Item[],
  ): Promise<string[][]> {
    // ioredis types pipeline() as the chainable commands; it is a Pipeline.
    const pipe = redis.pipeline() as ReturnType<Redis['pipeline']> & Pipeline;
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
    // seq advances only once the whole pipeline is acknowledged: a retry sends
    // the same seqs again, which a subscriber that saw some of them treats as
    // a publisher restart and answers by clearing its L1 (safe).
    const published: string[][] = [];
    for (const item of items) {
      if (item.kind !== 'keys' || item.keys.size === 0) continue;
      const keys = [...item.keys];
      for (const command of UnlinkCommand.forKeys(keys, UNLINK_CHUNK)) pipe.sendCommand(command);
      const pos = this.posOf(item);
      pipe.publish(
        this.options.channel,
        encodeInvalidation(this.options.source, this.seqValue + published.length + 1, {
          keys,
          ...(pos === undefined ? {} : { pos }),
        }),
      );
      published.push(keys);
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
    const pos = this.posOf(item);
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
    const removed = await unlinkMatching(redis, item.patterns, SCAN_COUNT);
    const pos = this.posOf(item);
    const message = encodeInvalidation(this.options.source, this.seqValue + 1, {
      patterns: item.patterns,
      flush: item.flushAll,
      ...(pos === undefined ? {} : { pos }),
    });
    await publishInOrder(redis, this.options.channel, message);
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
    publishInOrder(this.options.redis, this.options.channel, message).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message }, 'heartbeat publish failed');
    });
  }
}
