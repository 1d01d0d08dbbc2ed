import type { Clock, Timer } from '../../infra/clock.js';
import type { Checkpoint } from '../checkpoint/Checkpoint.js';

/** What a barrier's check decides once everything before it is acknowledged. */
export type BarrierOutcome =
  | { readonly action: 'pass' }
  /** Remove these key spaces first (in order), then pass. */
  | { readonly action: 'flush'; readonly patterns: readonly string[] }
  /** Stop for good: nothing after the barrier is sent, the checkpoint never passes it. */
  | { readonly action: 'halt' };

/** A unit of work the dispatcher sends, in order. `id` orders items for the checkpoint tracker. */
export type Item =
  | {
      readonly kind: 'keys';
      readonly id: number;
      readonly keys: ReadonlySet<string>;
      readonly boundary: Checkpoint | null;
    }
  | {
      readonly kind: 'patterns';
      readonly id: number;
      readonly patterns: readonly string[];
      readonly flushAll: boolean;
      readonly boundary: Checkpoint | null;
    }
  | {
      readonly kind: 'barrier';
      readonly id: number;
      readonly check: () => Promise<BarrierOutcome>;
      readonly boundary: Checkpoint | null;
    };

export interface BatcherOptions {
  /** A batch is sealed once it holds this many keys. */
  readonly batchMaxKeys: number;
  /** The longest a key waits for company while commits stream in. */
  readonly batchMaxDelayMs: number;
  /** Above this many unacknowledged keys the source must pause (rule 4); it resumes at half. */
  readonly maxInFlightKeys: number;
  /** Most keys one round trip carries when sealed batches queue up behind a slow Redis. */
  readonly roundMaxKeys: number;
  /** A Redis Cluster takes one item per round trip (its pipelines are per node). */
  readonly oneItemPerRound: boolean;
  readonly clock: Clock;
  /** Something is ready to send: the dispatcher should look (it may be busy). */
  readonly onReady: () => void;
  /** true: the source must pause; false: it may resume. Called on changes only. */
  readonly onBackpressure: (pause: boolean) => void;
}

/**
 * When keys wait for company. A transaction's keys go out at its commit
 * unless commits already share round trips: if at least this share of
 * recent commits (moving average) arrived while a round trip was in flight
 * or while an earlier transaction still waited in the open batch, commits
 * come in faster than round trips end, and each transaction waits up to
 * batchMaxDelayMs for others: a round trip costs more CPU than decoding a
 * small transaction (docs/benchmarks.md, sustained load). A client that
 * waits for each invalidation before its next write (the live-latency path)
 * never overlaps, so its commits always go out at once.
 */
export const STREAM_SHARE = 0.25;

/**
 * The batching stage. Pure: no I/O; time only through the injected clock.
 * Gathers keys into a de-duplicated open batch, decides when it is sealed
 * (size, delay, the streaming rule), queues sealed items in binlog order,
 * hands the dispatcher one round at a time, and decides when the source
 * must pause or may resume (memory is bounded by pausing, never by an
 * unbounded queue). In-flight keys are the open batch plus every sealed,
 * unacknowledged item.
 */
export class Batcher {
  private open = new Set<string>();
  private openBoundary: Checkpoint | null = null;
  /** The open batch holds keys of a committed transaction (not only a boundary). */
  private openCommitted = false;
  private readonly queue: Item[] = [];
  private queuedKeys = 0;
  private nextId = 1;
  private timer: Timer | null = null;
  /** Items of the round in flight (the queue's head), 0 when none. */
  private sending = 0;
  /** Moving average: the share of recent commits that found a round trip or a transaction pending. */
  private sharedCommits = 0;
  private paused = false;
  /** Seal at once after a round (a drain is awaited, or the pipeline closes). */
  private urgent = false;

  constructor(private readonly options: BatcherOptions) {}

  /** Keys read but not yet acknowledged by Redis. */
  get inFlightKeys(): number {
    return this.open.size + this.queuedKeys;
  }

  /** True while nothing is open, queued or in flight. */
  get idle(): boolean {
    return this.queue.length === 0 && this.open.size === 0 && this.openBoundary === null;
  }

  /** True while sealed items wait (or are in flight). */
  get hasQueued(): boolean {
    return this.queue.length > 0;
  }

  /** True while the source is asked to pause. */
  get pausing(): boolean {
    return this.paused;
  }

  /**
   * Adds a row event's keys to the open batch; seals it when full. Nothing
   * else: the keys wait for the end of their transaction, which decides.
   * The server sends a transaction's events only once it has committed, all
   * of them together, so its end is read right behind its rows; a timer
   * armed here was nearly always cleared by the commit a few microseconds
   * later, and arming and clearing it was ~15 % of the CPU from a commit to
   * its round's write in a cold cache (docs/benchmarks.md, thirteenth
   * sitting). The ends: a commit (`commit`); an end without a checkpoint
   * (`groupEnd`: an XA transaction's rows, which end with XA END and XA
   * PREPARE, no XID; a replay's transaction); and, for an end the source
   * did not recognise, the source caught up (`caughtUp`). A transaction
   * larger than batchMaxKeys goes out in full batches meanwhile, and
   * whatever gathers during a round is sealed when the round ends (`done`).
   * During a drain the keys wait batchMaxDelayMs at most.
   */
  add(keys: readonly string[]): void {
    for (const k of keys) this.open.add(k);
    if (this.open.size >= this.options.batchMaxKeys) this.seal();
    else if (this.urgent) this.arm();
  }

  /**
   * The rows so far end a group that carries no checkpoint: an XA
   * transaction's (XA END; its XA PREPARE has no XID), or a replay's
   * transaction (a replay has no checkpoint). They wait batchMaxDelayMs at
   * most, as a commit's keys do while commits stream.
   */
  groupEnd(): void {
    if (this.open.size > 0) this.arm();
  }

  /**
   * The source is caught up (a heartbeat: the server had nothing newer to
   * send). Keys still waiting for the end of their group will not get one
   * soon: they are sealed now. A safety net for an end `groupEnd` does not
   * know of.
   */
  caughtUp(): void {
    if (this.open.size > 0) this.seal();
  }

  /**
   * A transaction boundary. A transaction with keys goes out now when no
   * round trip is in flight and commits are not streaming; otherwise it
   * waits (up to batchMaxDelayMs, or until the round in flight ends).
   */
  commit(boundary: Checkpoint): void {
    if (this.open.size > 0) {
      // Shared: a round is in flight, or an earlier transaction's keys still
      // wait. A boundary alone (a transaction on tables nothing maps) is no
      // company: counted as such, other tables' commits within
      // batchMaxDelayMs before each watched one made the batcher stream,
      // and every watched commit then waited batchMaxDelayMs (the live
      // latency bench with the floor's updates interleaved: p50 0.4 → 2.5 ms).
      const shared = this.sending > 0 || this.openCommitted;
      this.sharedCommits = this.sharedCommits * 0.9 + (shared ? 0.1 : 0);
      this.openCommitted = true;
    }
    this.openBoundary = boundary;
    if (this.sending === 0 && this.open.size > 0 && !this.streaming()) this.seal();
    else this.arm();
  }

  /** Removes whole key spaces, in order with the key batches (TRUNCATE/DROP, policies). */
  flush(patterns: readonly string[], flushAll: boolean, boundary: Checkpoint | null): void {
    this.seal();
    this.enqueue({ kind: 'patterns', id: this.nextId++, patterns, flushAll, boundary });
  }

  /** Runs `check` once everything before it is acknowledged, before anything after it. */
  barrier(check: () => Promise<BarrierOutcome>, boundary: Checkpoint | null): void {
    this.seal();
    this.enqueue({ kind: 'barrier', id: this.nextId++, check, boundary });
  }

  /** Seals the open batch now (drain, shutdown) and from now on after every round. */
  hurry(): void {
    this.urgent = true;
    this.seal();
  }

  /** Back to normal batching once a drain completed. */
  relax(): void {
    this.urgent = false;
  }

  /**
   * The next round to send, or [] if nothing is queued: the queued key
   * batches up to roundMaxKeys keys; a flush, a barrier or (on a cluster)
   * any item alone. The items stay queued (and in flight) until `done`.
   */
  take(): readonly Item[] {
    if (this.sending > 0) throw new Error('Batcher.take: a round is already in flight');
    const first = this.queue[0];
    if (first === undefined) return [];
    const round: Item[] = [first];
    if (first.kind === 'keys' && !this.options.oneItemPerRound) {
      let keys = first.keys.size;
      for (let i = 1; i < this.queue.length; i++) {
        const next = this.queue[i] as Item;
        if (next.kind !== 'keys' || keys + next.keys.size > this.options.roundMaxKeys) break;
        round.push(next);
        keys += next.keys.size;
      }
    }
    this.sending = round.length;
    return round;
  }

  /**
   * The round from `take` was acknowledged: its items leave the queue. What
   * gathered meanwhile is sealed now, or, while commits stream, once the
   * batching delay has passed.
   */
  done(): void {
    const n = this.sending;
    this.sending = 0;
    for (const item of this.queue.splice(0, n)) {
      if (item.kind === 'keys') this.queuedKeys -= item.keys.size;
    }
    this.checkBackpressure();
    if (this.open.size > 0 || this.openBoundary !== null) {
      if (this.streaming() && !this.urgent) this.arm();
      else this.seal();
    }
  }

  /** The round from `take` failed for good: nothing is sent any more (the dispatcher halted). */
  abandon(): void {
    this.sending = 0;
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private streaming(): boolean {
    return this.sharedCommits >= STREAM_SHARE;
  }

  private arm(): void {
    if (this.timer !== null || this.sending > 0) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      this.seal();
    }, this.options.batchMaxDelayMs);
  }

  private seal(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.open.size === 0 && this.openBoundary === null) {
      this.options.onReady();
      return;
    }
    const item: Item = {
      kind: 'keys',
      id: this.nextId++,
      keys: this.open,
      boundary: this.openBoundary,
    };
    this.open = new Set();
    this.openBoundary = null;
    this.openCommitted = false;
    this.enqueue(item);
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    if (item.kind === 'keys') this.queuedKeys += item.keys.size;
    this.checkBackpressure();
    this.options.onReady();
  }

  private checkBackpressure(): void {
    const inFlight = this.inFlightKeys;
    const max = this.options.maxInFlightKeys;
    if (!this.paused && inFlight > max) {
      this.paused = true;
      this.options.onBackpressure(true);
    } else if (this.paused && inFlight <= max / 2) {
      this.paused = false;
      this.options.onBackpressure(false);
    }
  }
}
