import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import { backoffDelay, REDIS_BACKOFF } from '../../infra/backoff.js';
import type { Clock } from '../../infra/clock.js';
import type { Checkpoint } from '../checkpoint/Checkpoint.js';
import { identityText, type PrimaryIdentity } from '../checkpoint/PrimaryWatch.js';
import { comparePositions, formatPosition, type BinlogPosition } from '../position.js';
import type { StartPoint } from '../source/BinlogSource.js';

/**
 * Where a re-stream announces the L1 reset: where the stream was read up
 * to (`before`) when it is past the checkpoint re-streamed from (`from`,
 * null: none anywhere); null when nothing is read again (announce at once). Pure.
 */
export function announceTarget(
  before: BinlogPosition | null,
  from: Checkpoint | null,
): BinlogPosition | null {
  return before !== null && (from === null || comparePositions(before, from.position) > 0)
    ? before
    : null;
}

/** Whether the stream, read up to `at` (null: caught up), reached the announcement's `target`. Pure. */
export function reachedTarget(at: BinlogPosition | null, target: BinlogPosition): boolean {
  return at === null || comparePositions(at, target) >= 0;
}

/** What a re-stream does with the delivery stages (DeliveryStages). */
export interface RestreamDelivery {
  /** The current writer: `stored` is the checkpoint this process stored last. */
  readonly writer: { readonly stored: Checkpoint | null };
  /**
   * The current batcher: an L1 reset is a flush with no patterns, queued in
   * order; a new primary without the checkpoint gets every mapped pattern.
   */
  readonly batcher: {
    flush(patterns: readonly string[], flushAll: boolean, boundary: Checkpoint | null): void;
  };
  /** Halts the dispatcher and starts the bus sequence over (BusPublisher.restart). */
  halt(): void;
  /** Fresh stages keeping the publisher (and the old counters); the writer seeded with `from` unless null. */
  rebuild(from: Checkpoint | null): void;
}

/**
 * What the Redis policies need of the composition root: the stage line to
 * stop and rebuild, the primary watch and the stored checkpoint.
 */
export interface RedisPolicyOptions {
  /** After a fenced-off write: whether this instance still leads (absent: no HA, never retry). */
  readonly confirm?: (() => Promise<boolean>) | undefined;
  /** True once the daemon is stopping. */
  readonly stopping: () => boolean;
  /** True while a binlog stream is set up (false: still starting, or re-streaming). */
  readonly streaming: () => boolean;
  /** The last transaction boundary read. */
  readonly readPosition: () => BinlogPosition | null;
  /** Drops the binlog stream (connected: false); the promise, if any, settles once it stopped reading. */
  readonly dropStream: () => Promise<void> | undefined;
  /** The delivery stages (DeliveryStages): the current writer and batcher, retired and rebuilt here. */
  readonly delivery: RestreamDelivery;
  /** Takes the Redis primary answering now as the one writes go to (PrimaryWatch.adopt). */
  readonly adopt: () => Promise<PrimaryIdentity>;
  /** Reads the stored checkpoint (CheckpointStore.read). */
  readonly readCheckpoint: () => Promise<Checkpoint | null>;
  /** Where streaming started (the fallback when no checkpoint exists anywhere). */
  readonly startPoint: () => StartPoint;
  /** Every mapped key space's globs (flushed on a new primary without the checkpoint). */
  readonly patterns: () => readonly string[];
  /** Starts a binlog stream from `from`. */
  readonly restart: (from: StartPoint) => void;
  /** A re-stream began (stats.redisPrimaryChanges). */
  readonly restreamed: () => void;
  /** Stops the daemon with a coded error. */
  readonly fail: (err: SluiceError) => void;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The Redis policies: a fenced-off checkpoint write (onFenced) and another
 * primary or dataset behind the Redis connection (onRedisPrimaryChanged: a
 * re-stream from the checkpoint stored there, then an in-order L1 reset
 * once the stream is back where it was: announceRepairAt).
 */
export class RedisPolicy {
  private restreaming: Promise<void> | null = null;
  private restreamAgain = false;
  /** After a re-stream: announce the L1 reset once the stream is read again up to here. */
  private announceAt: BinlogPosition | null = null;

  constructor(private readonly o: RedisPolicyOptions) {}

  /**
   * Policy: a checkpoint write was fenced off. A lone daemon whose lease
   * expired during a Redis outage re-takes it with a new token while a write
   * with the old one is in flight: if this instance still holds the lease it
   * keeps its work and retries with the current token; only when another
   * instance leads does it halt with E_FENCED.
   */
  async onFenced(): Promise<boolean> {
    const confirm = this.o.confirm;
    if (confirm === undefined) return false;
    try {
      return await confirm();
    } catch (err) {
      // Redis went away again: retrying is safe, the fence decides next time.
      this.o.log.warn(
        { err: (err as Error).message },
        'leadership check failed; retrying the write',
      );
      return true;
    }
  }

  /** Streaming has begun: a change seen while starting re-streams now. */
  started(): void {
    if (this.restreamAgain) {
      // The primary changed while the checkpoint was being read.
      this.restreamAgain = false;
      this.onRedisPrimaryChanged('changed while starting');
    }
  }

  /**
   * Policy: Redis answers from another primary or dataset than before (a
   * Sentinel or cluster failover, a managed endpoint that moved, a restart
   * that reloaded an older snapshot). Replication is asynchronous: the old
   * primary may have acknowledged deletes and checkpoints that the new one
   * lacks, and the in-memory position has moved past them. The new
   * primary's own checkpoint never claims a delete it lacks (replication and
   * persistence are ordered), so: stop reading, abandon the queued and
   * in-flight work (every write built from it carries the old primary's
   * identity and is refused), re-read the checkpoint stored there, and
   * re-stream the binlog from it with fresh stages. The bus sequence starts
   * over: readers take the next message for a publisher restart (L1
   * cleared, read-your-own-writes watermark started over, so no token is
   * vouched for by the old primary's acknowledgements). Once the stream is
   * back where it was, an L1 reset is announced in order (`flush: true`, no
   * patterns: nothing is deleted), so a reader that filled L1 from the new
   * primary's stale values meanwhile drops them.
   */
  onRedisPrimaryChanged(reason: string): void {
    if (this.o.stopping()) return;
    if (this.restreaming !== null || !this.o.streaming()) {
      // Re-streaming, or still starting: once more when that is done.
      this.restreamAgain = true;
      return;
    }
    this.restreaming = this.restream(reason)
      .catch((err: unknown) => {
        this.o.fail(
          new SluiceError('E_INTERNAL', `re-stream failed: ${String(err)}`, { cause: err }),
        );
      })
      .finally(() => {
        this.restreaming = null;
        if (this.restreamAgain) {
          this.restreamAgain = false;
          this.onRedisPrimaryChanged('changed again while re-streaming');
        }
      });
  }

  private async restream(reason: string): Promise<void> {
    const { o } = this;
    o.restreamed();
    const read = o.readPosition();
    o.log.warn(
      {
        code: 'E_REDIS_PRIMARY_CHANGED',
        reason,
        readPosition: read === null ? null : formatPosition(read),
      },
      'redis primary changed: re-streaming the binlog from the checkpoint stored there',
    );
    o.delivery.halt();
    await o.dropStream();
    const before = o.readPosition();
    const stored = o.delivery.writer.stored;
    let cp: Checkpoint | null = null;
    for (let attempt = 1; ; attempt++) {
      if (o.stopping()) return;
      try {
        const id = await o.adopt();
        cp = await o.readCheckpoint();
        o.log.info(
          {
            primary: identityText(id),
            checkpoint: cp === null ? null : formatPosition(cp.position),
          },
          'checkpoint re-read from the new primary',
        );
        break;
      } catch (err) {
        const delay = backoffDelay(attempt, REDIS_BACKOFF);
        o.log.warn(
          { code: 'E_REDIS', err: (err as Error).message, attempt, retryInMs: delay },
          're-stream: redis primary not usable yet',
        );
        await o.clock.sleep(delay);
      }
    }
    if (o.stopping()) return;
    const from = cp ?? stored;
    o.delivery.rebuild(from);
    if (cp === null) {
      // A dataset without the checkpoint: emptied, or one that never had a
      // checkpoint write (a replica cut off since before the first, a
      // snapshot older than it). Its keys may be older than any delete this
      // process made, and no position says which: every mapped key space
      // goes, before the re-streamed invalidations. Then the stream goes on
      // from what this process stored last (null: where it started).
      const patterns = o.patterns();
      o.log.warn(
        { checkpoint: stored === null ? null : formatPosition(stored.position), patterns },
        'no checkpoint on the new primary: flushing every mapped key space before re-streaming',
      );
      o.delivery.batcher.flush(patterns, true, null);
    }
    const start: StartPoint =
      from === null ? o.startPoint() : { kind: 'position', position: from.position };
    // Nothing to read again: announce the reset at once.
    this.announceAt = announceTarget(before, from);
    if (this.announceAt === null) o.delivery.batcher.flush([], true, null);
    o.restart(start);
  }

  /** After a re-stream: the L1 reset goes out, in order, once `at` reached where the stream was (null: caught up). */
  announceRepairAt(at: BinlogPosition | null): void {
    const target = this.announceAt;
    if (target === null) return;
    if (!reachedTarget(at, target)) return;
    this.announceAt = null;
    this.o.log.info({ at: at === null ? 'caught up' : formatPosition(at) }, 're-stream caught up');
    this.o.delivery.batcher.flush([], true, null);
  }
}
