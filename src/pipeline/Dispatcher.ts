import type { Logger } from 'pino';
import type { BusPublisher } from '../bus/BusPublisher.js';
import { SluiceError } from '../errors/index.js';
import { TIMED_OUT, withTimeout } from '../infra/timeout.js';
import type { Batcher, Item } from './batch/Batcher.js';
import type { RateLimiter } from './batch/RateLimiter.js';
import type { Checkpoint } from './checkpoint/Checkpoint.js';
import type { CheckpointTracker } from './checkpoint/CheckpointTracker.js';
import type { CheckpointWrite, CheckpointWriter } from './checkpoint/CheckpointWriter.js';
import { formatPosition } from './position.js';
import { TransportClosed, type OutgoingBatch, type Transport } from './transport/Transport.js';

export interface DispatcherOptions {
  readonly batcher: Batcher;
  readonly transport: Transport;
  readonly tracker: CheckpointTracker;
  /** null: a replay, which never stores a checkpoint. */
  readonly writer: CheckpointWriter | null;
  readonly publisher: BusPublisher;
  readonly rateLimiter?: RateLimiter;
  readonly logger: Logger;
  /** The dispatcher stopped on its own (fenced off, or a barrier check failed unexpectedly). */
  readonly onHalt: (err: SluiceError) => void;
  /**
   * A checkpoint write was fenced off. Resolves true when the write should be
   * retried (this instance still leads, with a token it has just adopted),
   * false to halt with E_FENCED. Default: halt.
   */
  readonly onFenced?: () => Promise<boolean>;
  /**
   * A checkpoint write was refused because Redis is another primary or
   * dataset than the one whose acknowledgements it stands on (a failover, a
   * restart). The dispatcher has halted: what it acknowledged may be lost
   * with the old primary, so the caller re-streams. Default: halt with
   * E_REDIS_PRIMARY_CHANGED.
   */
  readonly onPrimaryChanged?: () => void;
  /** A batch's keys after Redis acknowledged their UNLINK + PUBLISH (the delayed second delete). */
  readonly onAcked?: (keys: readonly string[]) => void;
}

/** Counters for status and metrics. */
export interface DispatchStats {
  /** Round trips of key batches and checkpoint writes Redis acknowledged (flushes not counted). */
  rounds: number;
  batches: number;
  keys: number;
  publishes: number;
  checkpoints: number;
  retries: number;
  patternKeys: number;
}

/**
 * Moves sealed items from the batcher through the transport, one round trip
 * at a time, and reports each acknowledgement to the checkpoint tracker,
 * whose safe boundaries go to the writer. It decides nothing the stages
 * decide: the batcher what a round holds, the tracker what is safe, the
 * writer when a checkpoint rides along, the transport how Redis is spoken
 * to. Round trips go strictly one after another: nothing after an item is
 * sent before the item is acknowledged.
 */
export class Dispatcher {
  private readonly log: Logger;
  private loop: Promise<void> | null = null;
  private halted = false;
  private drainWaiters: Array<() => void> = [];
  /** The newest boundary sent: the `pos`/`gtid` of a batch sealed between boundaries. */
  private lastBoundary: Checkpoint | undefined;
  private readonly counters = { rounds: 0, batches: 0, keys: 0, patternKeys: 0 };

  constructor(private readonly options: DispatcherOptions) {
    this.log = options.logger.child({ component: 'dispatch' });
  }

  get stats(): DispatchStats {
    return {
      ...this.counters,
      publishes: this.options.publisher.publishes,
      checkpoints: this.options.writer?.writes ?? 0,
      retries: this.options.transport.retries,
    };
  }

  /** Something may be ready (the batcher sealed, a checkpoint fell due). */
  kick(): void {
    if (this.loop !== null || this.halted) return;
    const { batcher, writer } = this.options;
    if (!batcher.hasQueued && !this.checkpointAlone()) {
      if (writer?.pending != null) writer.idle();
      else this.notifyDrained();
      return;
    }
    this.loop = this.run().finally(() => {
      this.loop = null;
      this.kick();
    });
  }

  /** Resolves once everything handed over so far is acknowledged and the checkpoint written. */
  async drain(): Promise<void> {
    if (this.halted) return;
    const drained = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    this.options.batcher.hurry();
    this.kick();
    await drained;
  }

  /** Drains for at most `timeoutMs`, then stops; idempotent (once halted, the drain returns at once). */
  async close(timeoutMs: number): Promise<void> {
    const finished = await withTimeout(this.drain(), timeoutMs);
    this.halt();
    if (finished === TIMED_OUT) {
      this.log.warn(
        { inFlightKeys: this.options.batcher.inFlightKeys, code: 'E_SHUTDOWN_TIMEOUT' },
        'closed with unacknowledged work; it will be re-read from the checkpoint',
      );
    }
  }

  /** Stops at once; queued work is abandoned (it is re-read from the checkpoint). */
  halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.options.transport.close();
    this.options.writer?.close();
    this.options.batcher.abandon();
    this.release();
  }

  private get urgent(): boolean {
    return this.drainWaiters.length > 0;
  }

  /**
   * Whether the pending checkpoint goes in a round of its own: it is wanted
   * (due after `delayMs` with no round to carry it, or a drain waits) and no
   * round is coming anyway. A batch still open is sealed within
   * batchMaxDelayMs (its timer, or the end of the round in flight), and a due
   * checkpoint rides that round. Without this, under a stream the writer's
   * quiet timer fired between two rounds and sent nearly every checkpoint
   * alone: a fifth of the round trips (docs/benchmarks.md, issue 15).
   */
  private checkpointAlone(): boolean {
    const { batcher, writer } = this.options;
    if (writer === null || !writer.wanted(this.urgent)) return false;
    return this.urgent || batcher.idle;
  }

  /** Nothing to send and no checkpoint pending (`kick` checked): drained once the batcher is idle. */
  private notifyDrained(): void {
    const { batcher } = this.options;
    if (!batcher.idle) return;
    batcher.relax();
    this.release();
  }

  private release(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private async run(): Promise<void> {
    const { batcher, writer } = this.options;
    for (;;) {
      const items = batcher.take();
      // A checkpoint goes alone only when it is due and nothing else is
      // coming, or a drain waits; otherwise it rides the next round that has
      // work anyway.
      if (items.length === 0 && !this.checkpointAlone()) return;
      const cp = writer?.forRound(this.urgent) ?? null;
      try {
        await this.send(items, cp);
      } catch (err) {
        this.halt();
        // TransportClosed: stopped from outside (close, halt) while retrying; nothing to report.
        if (!(err instanceof TransportClosed)) {
          this.options.onHalt(
            err instanceof SluiceError
              ? err
              : new SluiceError('E_INTERNAL', `dispatch failed: ${String(err)}`, { cause: err }),
          );
        }
        return;
      }
      if (this.halted) return;
      batcher.done();
    }
  }

  /** One round: key batches (and the riding checkpoint), or one flush / barrier. */
  private async send(items: readonly Item[], cp: CheckpointWrite | null): Promise<void> {
    const { transport, tracker, publisher } = this.options;
    for (const item of items) tracker.sent(item.id, item.boundary);
    const batches: OutgoingBatch[] = [];
    const keyItems = items.filter((i) => i.kind === 'keys');
    for (const item of keyItems) {
      if (item.keys.size === 0) continue;
      const keys = Array.from(item.keys); // twice as fast as [...set] here
      const pos = this.pos(item.boundary);
      if (item.boundary !== null) this.lastBoundary = item.boundary;
      batches.push({ keys, message: publisher.encode(batches.length + 1, { keys, ...pos }) });
    }
    if (batches.length > 0 && this.options.rateLimiter !== undefined) {
      await this.options.rateLimiter.wait(batches.reduce((n, b) => n + b.keys.length, 0));
    }
    if (batches.length > 0 || cp !== null) {
      const ack = await transport.send({ checkpoint: cp, batches });
      // Halted meanwhile (e.g. a re-stream): this round belongs to the past.
      if (this.halted) return;
      this.counters.rounds++;
      if (ack.checkpoint === 'other-primary') {
        this.halt();
        if (this.options.onPrimaryChanged !== undefined) this.options.onPrimaryChanged();
        else {
          this.options.onHalt(
            new SluiceError(
              'E_REDIS_PRIMARY_CHANGED',
              'checkpoint write refused: Redis is another primary or dataset than the one that acknowledged the invalidations',
            ),
          );
        }
        return;
      }
      if (cp !== null && ack.checkpoint === 'fenced') {
        // The batches were deleted and announced; only the checkpoint was refused.
        if (!((await this.options.onFenced?.()) ?? false)) {
          this.halt();
          this.options.onHalt(
            new SluiceError(
              'E_FENCED',
              `checkpoint write refused: fencing token ${cp.fence?.token ?? 0} is stale (another instance leads)`,
            ),
          );
          return;
        }
      } else if (cp !== null) this.options.writer?.written(cp);
      publisher.acked(batches.length);
      for (const b of batches) {
        this.counters.batches++;
        this.counters.keys += b.keys.length;
        this.acked(b.keys);
      }
    }
    for (const item of items) {
      if (this.halted) return;
      if (item.kind === 'patterns') await this.flush(item.patterns, item.flushAll, item.boundary);
      if (item.kind === 'barrier') {
        const outcome = await item.check();
        if (outcome.action === 'halt') {
          this.halt();
          return;
        }
        if (outcome.action === 'flush') await this.flush(outcome.patterns, false, item.boundary);
      }
      this.settled(item.id, item.boundary);
    }
  }

  private settled(id: number, boundary: Checkpoint | null): void {
    if (boundary !== null) this.lastBoundary = boundary;
    const safe = this.options.tracker.acked(id);
    if (safe === null) return;
    this.options.writer?.offer(safe);
    this.options.publisher.acknowledged(this.mark(safe));
  }

  private async flush(
    patterns: readonly string[],
    flushAll: boolean,
    boundary: Checkpoint | null,
  ): Promise<void> {
    const { publisher, transport } = this.options;
    const message = publisher.encode(1, { patterns, flush: flushAll, ...this.pos(boundary) });
    const removed = await transport.flush(patterns, message);
    publisher.acked(1);
    this.counters.patternKeys += removed;
    if (patterns.length > 0) this.log.info({ patterns, flushAll, removed }, 'key space flushed');
    else this.log.info({ flushAll }, 'L1 reset announced');
  }

  /**
   * The watermark a message names: its boundary, else the newest one sent
   * (formatted once per batch). Every invalidation through it is
   * acknowledged once the message is published: rounds go in order, and a
   * batch's message follows its UNLINKs.
   */
  private pos(boundary: Checkpoint | null): { pos?: string; gtid?: string } {
    const at = boundary ?? this.lastBoundary;
    return at === undefined ? {} : this.mark(at);
  }

  private mark(at: Checkpoint): { pos: string; gtid?: string } {
    const pos = formatPosition(at.position);
    return at.gtid === undefined ? { pos } : { pos, gtid: at.gtid };
  }

  /** Hands an acknowledged batch to `onAcked`; its failure never fails the batch. */
  private acked(keys: readonly string[]): void {
    if (this.options.onAcked === undefined) return;
    try {
      this.options.onAcked(keys);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'onAcked failed');
    }
  }
}
