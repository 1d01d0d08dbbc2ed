import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../infra/clock.js';
import { withTimeout } from '../infra/timeout.js';
import { decodeMessage } from './codec.js';
import { Watermark, type FenceToken } from './Watermark.js';

/** What the subscriber tells its owner (the cache's L1). */
export interface BusListener {
  /** Drop these keys. */
  onKeys(keys: readonly string[]): void;
  /** Drop the keys matching these Redis globs. */
  onPatterns(patterns: readonly string[]): void;
  /** Drop everything (a flush message, a seq gap, a publisher restart, a lost subscription or heartbeat). */
  onReset(reason: BusResetReason): void;
}

export type BusResetReason = 'flush' | 'gap' | 'restart' | 'resubscribed' | 'heartbeat';

/**
 * The subscription connection, as the subscriber uses it: an ioredis `Redis`,
 * or anything emitting the same events (ClusterBusSubscriber).
 */
export interface SubscriberConnection {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'close' | 'reconnecting' | 'error', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

export interface BusSubscriberOptions {
  /** A dedicated connection: it enters subscriber mode. */
  readonly connection: SubscriberConnection;
  readonly channel: string;
  /** The daemon's heartbeat period (a source is silent after 3 periods). */
  readonly heartbeatMs: number;
  /**
   * Usable only while at least one daemon heartbeat is fresh (default true).
   * Without a daemon nobody invalidates L1 for database writes.
   */
  readonly requireHeartbeat?: boolean;
  /** Messages from this `src` are skipped: the process's own, already applied locally. */
  readonly ownSource?: string;
  readonly logger: Logger;
  readonly listener: BusListener;
  readonly clock?: Clock;
}

/** Counters of the subscriber (`cache.stats().bus`). */
export interface BusStats {
  messages: number;
  ignored: number;
  gaps: number;
  resets: number;
  heartbeats: number;
}

interface SourceState {
  lastSeq: number;
  /** How far this source has invalidated, as its messages and heartbeats say. */
  mark: Watermark;
  /** Last heartbeat (local clock); null for publishers that send none (library instances). */
  lastHeartbeatAt: number | null;
}

/** How long close() waits for the unsubscribe of a live subscription. */
export const UNSUBSCRIBE_WAIT_MS = 1000;

/**
 * The invalidation channel's subscriber. It hands every message's keys and
 * patterns to the listener and decides when L1 can no longer be trusted: a
 * sequence gap (seen in a message or in a heartbeat), a publisher restart (a
 * lower seq), three missed heartbeats, or a resubscribe each reset it, and
 * while the subscription is down or every daemon is silent `usable` is false.
 */
export class BusSubscriber {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly sources = new Map<string, SourceState>();
  private subscribed = false;
  private closed = false;
  private everSubscribed = false;
  /** The first subscribe failed (Redis down at start): retry it on the next 'ready'. */
  private subscribeFailed = false;
  private silent = true;
  private timer: Timer | null = null;
  /** Fenced reads waiting for a source's watermark, by source. */
  private readonly waiters = new Map<string, Set<{ token: FenceToken; done: () => void }>>();
  readonly stats: BusStats = { messages: 0, ignored: 0, gaps: 0, resets: 0, heartbeats: 0 };

  constructor(private readonly options: BusSubscriberOptions) {
    this.log = options.logger.child({ component: 'bus' });
    this.clock = options.clock ?? systemClock;
  }

  /** True while L1 may serve: subscribed and (if required) daemon heartbeats are fresh. */
  get usable(): boolean {
    return this.subscribed && !(this.options.requireHeartbeat !== false && this.silent);
  }

  get isSubscribed(): boolean {
    return this.subscribed;
  }

  /**
   * True once `src`'s watermark has passed `token`: every invalidation up to
   * the writer's commit is acknowledged in Redis and applied to this
   * process's L1 (a message is applied before its watermark counts).
   */
  passed(src: string, token: FenceToken): boolean {
    return this.sources.get(src)?.mark.passes(token) ?? false;
  }

  /**
   * Resolves true as soon as `src`'s watermark passes `token` (woken by the
   * message or heartbeat that moves it, no polling), false after `timeoutMs`.
   */
  waitFor(src: string, token: FenceToken, timeoutMs: number): Promise<boolean> {
    if (this.passed(src, token)) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let set = this.waiters.get(src);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(src, set);
      }
      const waiter = {
        token,
        done: () => {
          this.clock.clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = this.clock.setTimeout(() => {
        set.delete(waiter);
        resolve(false);
      }, timeoutMs);
      set.add(waiter);
    });
  }

  async start(): Promise<void> {
    const conn = this.options.connection;
    conn.on('message', (channel: string, raw: string) => {
      if (channel === this.options.channel) this.onMessage(raw);
    });
    conn.on('close', () => this.onDown());
    conn.on('reconnecting', () => this.onDown());
    conn.on('ready', () => {
      // Only after a lost connection (close/reconnecting cleared `subscribed`)
      // or a failed subscribe: ioredis can emit 'ready' on a live connection,
      // and resubscribing then would reset L1 for nothing.
      if (this.closed || this.subscribed) return;
      if (this.everSubscribed || this.subscribeFailed) void this.subscribe();
    });
    await this.subscribe();
    // Twice per period, so a silent daemon is noticed within 3.5 periods.
    this.timer = this.clock.setInterval(
      () => this.checkHeartbeats(),
      Math.max(50, this.options.heartbeatMs / 2),
    );
  }

  async close(): Promise<void> {
    const live = this.subscribed;
    this.closed = true;
    this.subscribed = false;
    // Fenced reads still waiting give up (they read the database).
    for (const set of this.waiters.values()) set.clear();
    this.clock.clearInterval(this.timer);
    // Only a live subscription is unsubscribed, and not waited for long: on a
    // lost connection the command would sit in the offline queue until a
    // reconnect that may never come (a shutdown while Redis is down). A
    // subscribe still pending unsubscribes itself once it lands.
    if (!live) return;
    try {
      await withTimeout(
        this.options.connection.unsubscribe(this.options.channel),
        UNSUBSCRIBE_WAIT_MS,
      );
    } catch {
      // disconnected meanwhile
    }
  }

  private async subscribe(): Promise<void> {
    try {
      await this.options.connection.subscribe(this.options.channel);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'subscribe failed; L1 bypassed until it succeeds',
      );
      this.subscribeFailed = true;
      return;
    }
    if (this.closed) {
      // close() ran while the subscribe was pending: do not stay subscribed.
      await this.options.connection.unsubscribe(this.options.channel).catch(() => undefined);
      return;
    }
    if (this.everSubscribed) {
      // Messages may have been missed while the subscription was down.
      this.reset('resubscribed');
    }
    this.everSubscribed = true;
    this.subscribed = true;
    this.log.debug({ channel: this.options.channel }, 'subscribed');
  }

  private onDown(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    this.log.warn('invalidation subscription lost: L1 bypassed until resubscribed');
  }

  private reset(reason: BusResetReason): void {
    this.stats.resets++;
    this.options.listener.onReset(reason);
    this.log.info({ reason }, 'L1 reset');
  }

  private onMessage(raw: string): void {
    const msg = decodeMessage(raw);
    if (msg === null) {
      this.stats.ignored++;
      return;
    }
    if (msg.src === this.options.ownSource) return;
    const state = this.sources.get(msg.src);
    if (msg.type === 'hb') {
      this.stats.heartbeats++;
      const now = this.clock.now();
      if (state === undefined) {
        this.sources.set(msg.src, {
          lastSeq: msg.seq,
          lastHeartbeatAt: now,
          mark: new Watermark(),
        });
      } else {
        state.lastHeartbeatAt = now;
        this.followSeq(state, msg.seq, true);
      }
      this.checkHeartbeats();
      this.advance(msg.src, msg.pos, msg.gtid);
      return;
    }
    this.stats.messages++;
    // Apply first: evictions are idempotent, whatever the sequence says.
    if (msg.keys.length > 0) this.options.listener.onKeys(msg.keys);
    if (msg.patterns.length > 0) this.options.listener.onPatterns(msg.patterns);
    if (msg.flush) this.reset('flush');
    if (state === undefined) {
      this.sources.set(msg.src, { lastSeq: msg.seq, lastHeartbeatAt: null, mark: new Watermark() });
    } else this.followSeq(state, msg.seq, false);
    // Only now, with its keys gone from L1, does the message's watermark count.
    this.advance(msg.src, msg.pos, msg.gtid);
  }

  /** Moves `src`'s watermark and wakes the fenced reads it now lets through. */
  private advance(src: string, pos: string | undefined, gtid: string | undefined): void {
    if (pos === undefined && gtid === undefined) return;
    const state = this.sources.get(src);
    if (state === undefined) return;
    state.mark.advance(pos, gtid);
    const waiting = this.waiters.get(src);
    if (waiting === undefined) return;
    for (const w of waiting) {
      if (!state.mark.passes(w.token)) continue;
      waiting.delete(w);
      w.done();
    }
  }

  /**
   * Follows a source's seq. A message carries the next seq (or the same one,
   * when a publish was retried); a heartbeat repeats the last one. Anything
   * higher means a message was lost. A lower seq in a message means the
   * publisher restarted (a new daemon run, a failover); in a heartbeat it is
   * left to the next message, which tells the same.
   */
  private followSeq(state: SourceState, seq: number, heartbeat: boolean): void {
    const expected = heartbeat ? state.lastSeq : state.lastSeq + 1;
    if (seq > expected) {
      state.lastSeq = seq;
      this.stats.gaps++;
      this.reset('gap');
    } else if (seq >= state.lastSeq) {
      state.lastSeq = seq;
    } else if (!heartbeat) {
      state.lastSeq = seq;
      // A new run (or a failover) of the publisher: what its old run
      // acknowledged may not hold in the Redis it writes to now, so its
      // watermark starts over from what the new run reports.
      state.mark = new Watermark();
      this.reset('restart');
    }
  }

  private checkHeartbeats(): void {
    const limit = 3 * this.options.heartbeatMs;
    const now = this.clock.now();
    let anyFresh = false;
    let anyStale = false;
    for (const s of this.sources.values()) {
      if (s.lastHeartbeatAt === null) continue;
      if (now - s.lastHeartbeatAt > limit) anyStale = true;
      else anyFresh = true;
    }
    const silent = anyStale || !anyFresh;
    if (silent && !this.silent) {
      this.log.warn({ limitMs: limit }, 'daemon heartbeat missing: L1 bypassed and cleared');
      this.silent = true;
      this.reset('heartbeat');
    } else if (!silent && this.silent) {
      this.silent = false;
    }
  }
}
