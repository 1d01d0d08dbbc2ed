import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BusSubscriber, type SubscriberConnection } from '../bus/BusSubscriber.js';
import { encodeInvalidation } from '../bus/codec.js';
import { subscriberConnection } from '../bus/subscriberConnection.js';
import { parseFenceToken, type FenceToken } from '../bus/Watermark.js';
import { backoffDelay, type BackoffOptions } from '../infra/backoff.js';
import { systemClock, type Clock } from '../infra/clock.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { CacheStats, type CacheStatsSnapshot } from './CacheStats.js';
import { ABSENT, encodeEntry, type Entry } from './codec.js';
import { FillTracker } from './FillTracker.js';
import { LocalCache, type LocalCacheOptions } from './LocalCache.js';
import { FULL_PROTECTION, type Protections } from './protections.js';
import {
  ReadThrough,
  type CacheRead,
  type Loader,
  type ManyLoader,
  type SetOptions,
} from './ReadThrough.js';
import { RemoteCache } from './RemoteCache.js';
import { token } from './token.js';
import { TtlPolicy } from './TtlPolicy.js';

export type { CacheRead, CacheSource, Loader, ManyLoader, SetOptions } from './ReadThrough.js';

/** Queues the database write of a write-behind (src/jobs provides one: WriteBehindQueue). */
export interface WriteBehindSink {
  enqueue(job: { key: string; sql: string; params: readonly unknown[] }): Promise<void>;
}

export interface SluiceCacheOptions {
  /** Redis for cache commands: a single Redis or a Redis Cluster. */
  readonly redis: Redis | Cluster;
  /**
   * A dedicated connection for the subscription (default: `redis.duplicate()`,
   * or for a cluster a ClusterBusSubscriber on one of its nodes).
   */
  readonly subscriber?: SubscriberConnection;
  readonly channel?: string;
  /** The daemon's heartbeat period (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** Serve L1 only while a daemon heartbeat is fresh (default true). */
  readonly requireHeartbeat?: boolean;
  /** L1 options, or false for no L1. */
  readonly l1?: LocalCacheOptions | false;
  /** L2 lifetime of a value (default 5 min), with up to `ttlJitter` added (default 0.1 = 10 %). */
  readonly ttlMs?: number;
  readonly ttlJitter?: number;
  /** L2 lifetime of a negative entry (default 60 s). */
  readonly negativeTtlMs?: number;
  /** Lease period: how long a filler may take (default 2000 ms). */
  readonly leaseMs?: number;
  /** How long other readers wait for a leased fill before reading the database themselves (default 500 ms). */
  readonly leaseWaitMs?: number;
  readonly logger?: Logger;
  /** Prometheus registry for the cache metrics. */
  readonly registry?: Registry;
  readonly writeBehind?: WriteBehindSink;
  readonly clock?: Clock;
  /**
   * Read your own writes: the daemon (its `source.name`, the bus `src`)
   * whose watermark fences reads that carry `after` (default "main").
   */
  readonly fenceSource?: string;
  /** How long a fenced read waits for the watermark before it reads the database (default 1000 ms). */
  readonly fenceWaitMs?: number;
}

/** Options of a read. */
export interface ReadOptions extends SetOptions {
  /**
   * Read your own writes: the fence token of the caller's own commit
   * (`fenceToken()` on the writing connection: a GTID or FILE:POS). The read
   * is answered by the cache only once the daemon's watermark has passed it;
   * otherwise, after waiting up to `fenceWaitMs`, from the database without
   * filling the cache (the old value may still be in L2). A token that does
   * not parse throws E_FENCE_TOKEN_INVALID.
   */
  readonly after?: string | FenceToken;
}

/** Options of cacheAsideWithLock. */
export interface LockOptions extends SetOptions {
  /** Lock lifetime (default 5000 ms). */
  readonly lockMs?: number;
  /** How long a caller waits for the lock holder's fill before loading itself (default 3000 ms). */
  readonly waitMs?: number;
}

/** SluiceCache instances created in this process (part of each one's publisher id). */
let instances = 0;

/** Waiting for a lock holder's fill: 5 ms, doubling, at most 100 ms. */
const LOCK_POLL: BackoffOptions = { initialMs: 5, maxMs: 100 };

/**
 * The multi-level cache: L1 (in process) → L2 (Redis) → your loader (the
 * database), kept consistent by the Sluice daemon. It composes the parts:
 * the read path (ReadThrough: single-flight, leases, fill tracking), the L1
 * and L2 facades, the bus subscriber that evicts L1, and the writes.
 *
 * ```ts
 * const cache = new SluiceCache({ redis: new Redis(url) });
 * await cache.start();
 * const user = await cache.getOrSet(`user:${id}`, () => loadUser(id));
 * ```
 */
export class SluiceCache {
  private readonly l1: LocalCache | null;
  private readonly l2: RemoteCache;
  private readonly bus: BusSubscriber;
  private readonly reads: ReadThrough;
  private readonly fills = new FillTracker();
  private readonly counters: CacheStats;
  private readonly ttl: TtlPolicy;
  private readonly clock: Clock;
  private readonly ownsSubscriber: boolean;
  private readonly subscriber: SubscriberConnection;
  private readonly channel: string;
  /**
   * `src` of the invalidations this cache publishes itself: the host, the
   * pid, the process's random token prefix (a restarted container may reuse
   * pid 1) and this instance's number, so that two caches of one process
   * never take each other's messages for their own.
   */
  private readonly publisherId = `cache:${hostname()}:${process.pid}:${token().slice(0, 6)}:${++instances}`;
  private ownSeq = 0;
  private readonly fenceSource: string;
  private readonly fenceWaitMs: number;
  private started = false;
  private closed = false;

  /**
   * `protections` is for the test-only factory (test/helpers/cache.ts):
   * production code never passes it.
   */
  constructor(
    private readonly options: SluiceCacheOptions,
    protections: Protections = FULL_PROTECTION,
  ) {
    const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'cache' });
    this.clock = options.clock ?? systemClock;
    this.channel = options.channel ?? 'sluice:invalidate';
    this.fenceSource = options.fenceSource ?? 'main';
    this.fenceWaitMs = options.fenceWaitMs ?? 1000;
    this.l1 = options.l1 === false ? null : new LocalCache(options.l1, this.clock);
    this.l2 = new RemoteCache(options.redis, log, options.leaseMs ?? 2000, this.clock);
    this.ttl = new TtlPolicy({
      ttlMs: options.ttlMs ?? 300_000,
      jitter: options.ttlJitter ?? 0.1,
      negativeTtlMs: options.negativeTtlMs ?? 60_000,
    });
    this.counters = new CacheStats(options.registry, {
      l1Entries: () => this.l1?.size ?? 0,
      redisErrors: () => this.l2.errors,
    });
    this.ownsSubscriber = options.subscriber === undefined;
    this.subscriber = options.subscriber ?? subscriberConnection(options.redis);
    this.subscriber.on('error', () => undefined); // state changes are handled by the bus
    this.bus = new BusSubscriber({
      connection: this.subscriber,
      channel: this.channel,
      heartbeatMs: options.heartbeatMs ?? 1000,
      ...(options.requireHeartbeat === undefined
        ? {}
        : { requireHeartbeat: options.requireHeartbeat }),
      ownSource: this.publisherId,
      logger: log,
      clock: this.clock,
      listener: {
        onKeys: (keys) => this.evictLocal(keys),
        onPatterns: (patterns) => {
          for (const p of patterns) this.evictLocalPattern(p);
        },
        onReset: () => {
          if (!protections.resets) return;
          this.fills.invalidateAll();
          this.l1?.clear();
          this.counters.l1Resets++;
        },
      },
    });
    this.reads = new ReadThrough({
      l1: this.l1,
      l2: this.l2,
      fills: this.fills,
      stats: this.counters,
      l1Usable: () => this.bus.usable,
      ttl: this.ttl,
      leaseWaitMs: options.leaseWaitMs ?? 500,
      protections,
      clock: this.clock,
    });
  }

  /** Subscribes to the invalidation channel. Until then (and while it is down) L1 is bypassed. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.bus.start();
  }

  /** True when L1 may serve reads right now. */
  get l1Usable(): boolean {
    return this.l1 !== null && this.bus.usable;
  }

  /** Subscription and Redis state, for readiness probes. */
  health(): { redis: boolean; subscribed: boolean; l1Usable: boolean } {
    return {
      redis: this.options.redis.status === 'ready',
      subscribed: this.bus.isSubscribed,
      l1Usable: this.l1Usable,
    };
  }

  // ── reads ──────────────────────────────────────────────────────────────

  /**
   * The cached value: a value, null for a cached "absent", undefined when not
   * cached (or, with `after`, when the watermark did not pass it in time).
   * Never loads.
   */
  async get<T>(key: string, options: ReadOptions = {}): Promise<T | null | undefined> {
    if (options.after !== undefined && (await this.fencedOff(options.after))) return undefined;
    const entry = await this.reads.get<T>(key);
    if (entry === null) return undefined;
    return entry.present ? entry.value : null;
  }

  /** Reads through all levels, loading and caching on a miss; null when the loader found nothing. */
  async getOrSet<T>(key: string, loader: Loader<T>, options: ReadOptions = {}): Promise<T | null> {
    const r = await this.read(key, loader, options);
    return r.entry.present ? r.entry.value : null;
  }

  /** Like getOrSet, with the JSON text and the level that answered (for HTTP: `X-Cache`). */
  read<T>(key: string, loader: Loader<T>, options: ReadOptions = {}): Promise<CacheRead<T>> {
    // Without a fence token the read path pays no extra await (the L1 hit is the hot path).
    if (options.after === undefined) return this.reads.read(key, loader, options);
    return this.fencedReadOne(key, loader, options, options.after);
  }

  private async fencedReadOne<T>(
    key: string,
    loader: Loader<T>,
    options: ReadOptions,
    after: string | FenceToken,
  ): Promise<CacheRead<T>> {
    if (await this.fencedOff(after)) {
      this.counters.dbLoads++;
      return fencedRead((await loader()) ?? null);
    }
    return this.reads.read(key, loader, options);
  }

  /**
   * Reads many keys: L1, then one MGET, then `loadMany` once for the keys no
   * level had (each miss is lease-guarded like a single read). `loadMany`
   * returns the found values by key; keys it leaves out are cached as absent.
   * With `after` and the watermark not past it in time: `loadMany` for every
   * key, nothing cached.
   */
  async readMany<T>(
    keys: readonly string[],
    loadMany: ManyLoader<T>,
    options: ReadOptions = {},
  ): Promise<Map<string, CacheRead<T>>> {
    if (options.after !== undefined && (await this.fencedOff(options.after))) {
      this.counters.dbLoads += keys.length;
      const found = await loadMany(keys);
      return new Map(keys.map((k) => [k, fencedRead(found.get(k) ?? null)]));
    }
    return this.reads.readMany(keys, loadMany, options);
  }

  /** Like readMany, values by key (null = absent). */
  async getMany<T>(
    keys: readonly string[],
    loadMany: ManyLoader<T>,
    options: ReadOptions = {},
  ): Promise<Map<string, T | null>> {
    const reads = await this.readMany(keys, loadMany, options);
    return new Map([...reads].map(([k, r]) => [k, r.entry.present ? r.entry.value : null]));
  }

  /**
   * Read your own writes: true when the read must bypass the cache (the
   * daemon's watermark has not passed `after` within fenceWaitMs), false when
   * the normal path may answer (no fence, or the watermark passed it; then
   * every invalidation up to the caller's commit is done in Redis and in
   * this process's L1).
   */
  private async fencedOff(after: string | FenceToken): Promise<boolean> {
    const token = typeof after === 'string' ? parseFenceToken(after) : after;
    if (this.bus.passed(this.fenceSource, token)) {
      this.counters.fencedPassed++;
      return false;
    }
    if (await this.bus.waitFor(this.fenceSource, token, this.fenceWaitMs)) {
      this.counters.fencedWaited++;
      return false;
    }
    this.counters.fencedDatabase++;
    return true;
  }

  /**
   * Cache-aside under a distributed lock (`SET NX PX` with a random token,
   * released only by its owner): one process loads, the others retry reading
   * the cache with backoff until `waitMs`, then read the database themselves.
   * The fill still goes through the lease check.
   */
  async cacheAsideWithLock<T>(
    key: string,
    loader: Loader<T>,
    options: LockOptions = {},
  ): Promise<T | null> {
    const cached = await this.get<T>(key);
    if (cached !== undefined) return cached;
    const lockKey = RedisKeys.lock(key);
    const owner = token();
    const deadline = this.clock.now() + (options.waitMs ?? 3000);
    for (let attempt = 1; ; attempt++) {
      const acquired = await this.l2.acquireLock(lockKey, owner, options.lockMs ?? 5000);
      if (acquired === true) {
        try {
          // Double-check: the previous owner may have filled it meanwhile.
          return await this.getOrSet(key, loader, options);
        } finally {
          await this.l2.releaseLock(lockKey, owner);
        }
      }
      if (acquired === undefined || this.clock.now() >= deadline) {
        // Redis is down or the holder is slow: read the database without filling.
        this.counters.dbLoads++;
        return (await loader()) ?? null;
      }
      await this.clock.sleep(backoffDelay(attempt, LOCK_POLL));
      const again = await this.get<T>(key);
      if (again !== undefined) return again;
    }
  }

  // ── writes ─────────────────────────────────────────────────────────────

  /** Writes a value into L2 through the lease check (and drops L1 copies everywhere). */
  async set<T>(key: string, value: T | null, options: SetOptions = {}): Promise<boolean> {
    const t = token();
    this.evictLocal([key]);
    if (!(await this.l2.take(key, t))) return false;
    const entry: Entry<T> = value === null ? ABSENT : { present: true, value };
    const ok = await this.l2.fill(
      key,
      t,
      encodeEntry(entry),
      this.ttl.forEntry(entry, options.ttlMs),
    );
    await this.publish({ keys: [key] });
    return ok;
  }

  /**
   * Write-through: takes the key's lease, runs the database write, then
   * writes the value through the lease. A reader's fill that began before the
   * write cannot land, and if the daemon invalidates the key first, this
   * fill is dropped too: the cache never holds an older value than the database.
   */
  async writeThrough<T>(
    key: string,
    value: T,
    write: () => Promise<void>,
    options: SetOptions = {},
  ): Promise<void> {
    const t = token();
    this.evictLocal([key]);
    const leased = await this.l2.take(key, t);
    await write();
    if (leased) {
      const entry: Entry<T> = { present: true, value };
      const ttlMs = this.ttl.forEntry(entry, options.ttlMs);
      if (!(await this.l2.fill(key, t, encodeEntry(entry), ttlMs))) this.counters.fillsDropped++;
    }
    await this.publish({ keys: [key] });
  }

  /**
   * Write-behind: the value goes to the cache now; the database write is a
   * durable job (retried with backoff). If the job finally fails, the key is
   * invalidated, so the cache never keeps a value the database never got.
   */
  async writeBehind<T>(
    key: string,
    value: T,
    write: { sql: string; params: readonly unknown[] },
    options: SetOptions = {},
  ): Promise<void> {
    const sink = this.options.writeBehind;
    if (sink === undefined)
      throw new Error('writeBehind needs a WriteBehindSink (SluiceCacheOptions.writeBehind)');
    await this.set(key, value, options);
    try {
      await sink.enqueue({ key, sql: write.sql, params: write.params });
    } catch (err) {
      await this.delete(key);
      throw err;
    }
  }

  /** Removes a key (and its lease) from L2 and from every L1. */
  async delete(key: string): Promise<boolean> {
    return this.deleteMany([key]);
  }

  /** Removes keys (and their leases) from L2 and from every L1. */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    this.evictLocal(keys);
    const ok = await this.l2.unlink(keys);
    await this.publish({ keys });
    return ok;
  }

  /** Removes every key matching a Redis glob, by SCAN + UNLINK in batches (never KEYS). */
  async invalidatePattern(glob: string): Promise<number> {
    this.evictLocalPattern(glob);
    const removed = await this.l2.unlinkPattern(glob);
    await this.publish({ patterns: [glob] });
    return removed ?? 0;
  }

  // ── stats and lifecycle ────────────────────────────────────────────────

  stats(): CacheStatsSnapshot {
    return this.counters.snapshot(this.l1?.size ?? 0, this.l2.errors, this.bus.stats);
  }

  /** Share of reads answered by L1 or L2. */
  hitRate(): number {
    return this.stats().hitRate;
  }

  /** Unsubscribes and closes the connections this cache opened; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bus.close();
    if (this.ownsSubscriber) this.subscriber.disconnect();
    this.l1?.clear();
  }

  // ── internals ──────────────────────────────────────────────────────────

  /** Drops keys from this L1 and marks their in-flight fills stale. */
  private evictLocal(keys: readonly string[]): void {
    this.fills.invalidateKeys(keys);
    if (this.l1) for (const k of keys) this.l1.delete(k);
  }

  private evictLocalPattern(glob: string): void {
    this.fills.invalidatePattern(glob);
    this.l1?.deletePattern(glob);
  }

  /** Tells the other processes' L1s (this one has already applied it). */
  private async publish(body: {
    keys?: readonly string[];
    patterns?: readonly string[];
  }): Promise<void> {
    const message = encodeInvalidation(this.publisherId, ++this.ownSeq, body);
    await this.l2.publish(this.channel, message);
  }
}

/** A value read from the database past the cache (a fenced read): not cached. */
function fencedRead<T>(value: T | null): CacheRead<T> {
  return {
    entry: value === null ? ABSENT : { present: true, value },
    json: null,
    source: 'fenced',
  };
}
