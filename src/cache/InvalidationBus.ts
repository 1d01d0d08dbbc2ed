import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { publishInOrder } from '../infra/clusterCommands.js';
import { decodeMessage, encodeInvalidation } from '../bus/codec.js';

/** What the bus tells the cache. */
export interface BusListener {
  /** Drop these keys from L1. */
  onKeys(keys: readonly string[]): void;
  /** Drop the keys matching these Redis globs from L1. */
  onPatterns(patterns: readonly string[]): void;
  /** Drop everything from L1 (a flush message, a seq gap, a publisher restart, a lost subscription or heartbeat). */
  onReset(reason: BusResetReason): void;
}

export type BusResetReason = 'flush' | 'gap' | 'restart' | 'resubscribed' | 'heartbeat';

/**
 * The subscription connection, as the bus uses it: an ioredis `Redis`, or
 * anything emitting the same events (ClusterBusSubscriber).
 */
export interface BusSubscriber {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'close' | 'reconnecting' | 'error', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

export interface InvalidationBusOptions {
  /** A dedicated connection: it enters subscriber mode. */
  readonly subscriber: BusSubscriber;
  /** A normal connection (or the cluster) for publishing this process's own invalidations. */
  readonly publisher: Redis | Cluster;
  readonly channel: string;
  /** The daemon's heartbeat period (a source is silent after 3 periods). */
  readonly heartbeatMs: number;
  /**
   * Serve L1 only while at least one daemon heartbeat is fresh (default true).
   * Without a daemon nobody invalidates L1 for database writes.
   */
  readonly requireHeartbeat?: boolean;
  /** This process's `src` for messages it publishes itself. */
  readonly publisherId: string;
  readonly logger: Logger;
  readonly listener: BusListener;
}

interface SourceState {
  lastSeq: number;
  /** Last heartbeat (local clock); 0 for publishers that send none (library instances). */
  lastHeartbeatAt: number;
}

/**
 * The invalidation channel subscriber (and publisher for the library's own
 * deletes). It evicts L1 on every message and decides when L1 can no longer
 * be trusted: a sequence gap, a publisher restart, three missed heartbeats, or
 * a resubscribe all reset L1, and while the subscription is down or a daemon
 * is silent `usable` is false, so L1 is bypassed.
 */
export class InvalidationBus {
  private readonly log: Logger;
  private readonly sources = new Map<string, SourceState>();
  private subscribed = false;
  private closed = false;
  private everSubscribed = false;
  /** The first subscribe failed (Redis down at start): retry it on the next 'ready'. */
  private subscribeFailed = false;
  private silent = true;
  private ownSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly stats = { messages: 0, ignored: 0, gaps: 0, resets: 0, heartbeats: 0 };

  constructor(private readonly options: InvalidationBusOptions) {
    this.log = options.logger.child({ component: 'bus' });
  }

  /** True while L1 may serve: subscribed and (if required) daemon heartbeats are fresh. */
  get usable(): boolean {
    return this.subscribed && !(this.options.requireHeartbeat !== false && this.silent);
  }

  get isSubscribed(): boolean {
    return this.subscribed;
  }

  async start(): Promise<void> {
    const sub = this.options.subscriber;
    sub.on('message', (channel: string, raw: string) => {
      if (channel === this.options.channel) this.onMessage(raw);
    });
    sub.on('close', () => this.onDown());
    sub.on('reconnecting', () => this.onDown());
    sub.on('ready', () => {
      // Only after a lost connection (close/reconnecting cleared `subscribed`)
      // or a failed subscribe: ioredis can emit 'ready' on a live connection,
      // and resubscribing then would reset L1 for nothing.
      if (this.closed || this.subscribed) return;
      if (this.everSubscribed || this.subscribeFailed) void this.subscribe();
    });
    await this.subscribe();
    this.timer = setInterval(
      () => this.checkHeartbeats(),
      Math.max(50, this.options.heartbeatMs / 2),
    );
    this.timer.unref();
  }

  /** Publishes an invalidation made by this process (cache delete, pattern flush). */
  async publish(body: { keys?: readonly string[]; patterns?: readonly string[] }): Promise<void> {
    this.ownSeq++;
    const { publisher, channel } = this.options;
    const message = encodeInvalidation(this.options.publisherId, this.ownSeq, body);
    await publishInOrder(publisher, channel, message);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribed = false;
    if (this.timer) clearInterval(this.timer);
    try {
      await this.options.subscriber.unsubscribe(this.options.channel);
    } catch {
      // already disconnected
    }
  }

  private async subscribe(): Promise<void> {
    try {
      await this.options.subscriber.subscribe(this.options.channel);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'subscribe failed; L1 bypassed until it succeeds',
      );
      this.subscribeFailed = true;
      return;
    }
    this.subscribeFailed = false;
    if (this.closed) {
      // close() ran while the subscribe was pending: do not stay subscribed.
      await this.options.subscriber.unsubscribe(this.options.channel).catch(() => undefined);
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
    if (msg.src === this.options.publisherId) return; // our own, already applied locally
    let state = this.sources.get(msg.src);
    if (msg.type === 'hb') {
      this.stats.heartbeats++;
      if (state === undefined) {
        state = { lastSeq: msg.seq, lastHeartbeatAt: Date.now() };
        this.sources.set(msg.src, state);
      } else {
        state.lastHeartbeatAt = Date.now();
        // A heartbeat repeats the last seq: a higher one means a message was lost.
        if (msg.seq > state.lastSeq) {
          this.stats.gaps++;
          state.lastSeq = msg.seq;
          this.reset('gap');
        }
      }
      this.checkHeartbeats();
      return;
    }
    this.stats.messages++;
    // Apply first: evictions are idempotent, whatever the sequence says.
    if (msg.keys.length > 0) this.options.listener.onKeys(msg.keys);
    if (msg.patterns.length > 0) this.options.listener.onPatterns(msg.patterns);
    if (msg.flush) this.reset('flush');
    if (state === undefined) {
      this.sources.set(msg.src, { lastSeq: msg.seq, lastHeartbeatAt: 0 });
    } else if (msg.seq === state.lastSeq + 1 || msg.seq === state.lastSeq) {
      state.lastSeq = msg.seq; // next in order, or a retried publish
    } else if (msg.seq > state.lastSeq + 1) {
      this.stats.gaps++;
      state.lastSeq = msg.seq;
      this.reset('gap');
    } else {
      // A lower seq: the publisher restarted (new daemon run, failover).
      state.lastSeq = msg.seq;
      this.reset('restart');
    }
  }

  private checkHeartbeats(): void {
    const limit = 3 * this.options.heartbeatMs;
    const now = Date.now();
    let anyFresh = false;
    let anyStale = false;
    for (const s of this.sources.values()) {
      if (s.lastHeartbeatAt === 0) continue;
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
