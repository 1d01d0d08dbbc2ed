import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isCluster } from '../infra/redis.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { CacheStats, type CacheStatsSnapshot } from './CacheStats.js';
import { ClusterBusSubscriber } from './ClusterBusSubscriber.js';
import { ABSENT, decodeEntry, encodeEntry, entryJson, type Entry } from './codec.js';
import { FillTracker, type Fill } from './FillTracker.js';
import { InvalidationBus, type BusSubscriber } from './InvalidationBus.js';
import { LocalCache, type LocalCacheOptions, type LocalEntry } from './LocalCache.js';
import { RemoteCache, type LeaseResult } from './RemoteCache.js';

/** Where a read was answered: the `X-Cache` header of the read API. */
export type CacheSource = 'l1' | 'l2' | 'miss';

/** A read result: the entry, its JSON text (null when absent) and where it came from. */
export interface CacheRead<T> {
  readonly entry: Entry<T>;
  readonly json: string | null;
  readonly source: CacheSource;
}

/** Loads one value; null or undefined means "no such row" (cached as a negative entry). */
export type Loader<T> = () => Promise<T | null | undefined>;

export interface SetOptions {
  /** L2 lifetime of this entry in ms (default: the cache's ttlMs). */
  readonly ttlMs?: number;
}

/** Queues the database write of a write-behind; see src/jobs. */
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
  readonly subscriber?: BusSubscriber;
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
  /**
   * @internal Switches protections off, for the race tests that prove each
   * protection is what prevents its race. Never set this in production.
   */
  readonly unsafe?: {
    /** Plain GET/SET instead of leases (allows stale sets). */
    readonly noLeases?: boolean;
    /** Store L1 fills even when an invalidation arrived during the fill. */
    readonly noFillTracking?: boolean;
    /** Keep L1 on seq gaps, restarts and resubscribes. */
    readonly noResets?: boolean;
  };
}

/** 96 random bits per process, then a counter: unique lease/lock tokens without a syscall per read. */
const TOKEN_PREFIX = randomBytes(12).toString('base64url');
let tokenCounter = 0;

function token(): string {
  return `${TOKEN_PREFIX}.${(++tokenCounter).toString(36)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The multi-level cache: L1 (in process) → L2 (Redis) → your loader (the
 * database), kept consistent by the Sluice daemon. Reads are single-flight per
 * key in a process, misses take a Redis lease so a fill that raced a write is
 * dropped (no stale set), and L1 fills that raced an invalidation are
 * discarded (no stale L1).
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
  private readonly bus: InvalidationBus;
  private readonly fills = new FillTracker();
  private readonly inflight = new Map<string, Promise<CacheRead<unknown>>>();
  private readonly counters: CacheStats;
  private readonly log: Logger;
  private readonly ownsSubscriber: boolean;
  private readonly subscriber: BusSubscriber;
  private readonly ttlMs: number;
  private readonly ttlJitter: number;
  private readonly negativeTtlMs: number;
  private readonly leaseMs: number;
  private readonly leaseWaitMs: number;
  private started = false;
  private closed = false;

  constructor(private readonly options: SluiceCacheOptions) {
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'cache' });
    this.ttlMs = options.ttlMs ?? 300_000;
    this.ttlJitter = options.ttlJitter ?? 0.1;
    this.negativeTtlMs = options.negativeTtlMs ?? 60_000;
    this.leaseMs = options.leaseMs ?? 2000;
    this.leaseWaitMs = options.leaseWaitMs ?? 500;
    this.l1 = options.l1 === false ? null : new LocalCache(options.l1);
    this.l2 = new RemoteCache(options.redis, this.log, this.leaseMs);
    this.ownsSubscriber = options.subscriber === undefined;
    this.subscriber =
      options.subscriber ??
      (isCluster(options.redis)
        ? new ClusterBusSubscriber(options.redis)
        : // Its own settings, whatever the command client uses: a subscription
          // is queued until the connection is up, and never auto-pipelined.
          options.redis.duplicate({ enableAutoPipelining: false, enableOfflineQueue: true }));
    this.subscriber.on('error', () => undefined); // state changes are handled by the bus
    this.bus = new InvalidationBus({
      subscriber: this.subscriber,
      publisher: options.redis,
      channel: options.channel ?? 'sluice:invalidate',
      heartbeatMs: options.heartbeatMs ?? 1000,
      ...(options.requireHeartbeat === undefined
        ? {}
        : { requireHeartbeat: options.requireHeartbeat }),
      publisherId: `cache:${hostname()}:${process.pid}:${token().slice(0, 6)}`,
      logger: this.log,
      listener: {
        onKeys: (keys) => {
          this.fills.invalidateKeys(keys);
          if (this.l1) for (const k of keys) this.l1.delete(k);
        },
        onPatterns: (patterns) => {
          for (const p of patterns) {
            this.fills.invalidatePattern(p);
            this.l1?.deletePattern(p);
          }
        },
        onReset: () => {
          if (options.unsafe?.noResets) return;
          this.fills.invalidateAll();
          this.l1?.clear();
          this.counters.l1Resets++;
        },
      },
    });
    this.counters = new CacheStats(options.registry, {
      l1Entries: () => this.l1?.size ?? 0,
      redisErrors: () => this.l2.errors,
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
    const status = this.options.redis.status;
    return {
      redis: status === 'ready',
      subscribed: this.bus.isSubscribed,
      l1Usable: this.l1Usable,
    };
  }

  // ── reads ──────────────────────────────────────────────────────────────

  /** The cached value: a value, null for a cached "absent", undefined when not cached. Never loads. */
  async get<T>(key: string): Promise<T | null | undefined> {
    const local = this.readL1(key);
    if (local) return local.entry.present ? (local.entry.value as T) : null;
    const raw = await this.l2.get(key);
    const entry = decodeEntry<T>(raw);
    if (entry === null) {
      this.counters.missesL2++;
      return undefined;
    }
    this.counters.hitsL2++;
    return entry.present ? entry.value : null;
  }

  /** Reads through all levels, loading and caching on a miss; null when the loader found nothing. */
  async getOrSet<T>(key: string, loader: Loader<T>, options: SetOptions = {}): Promise<T | null> {
    const r = await this.read(key, loader, options);
    return r.entry.present ? r.entry.value : null;
  }

  /** Like getOrSet, with the JSON text and the level that answered (for HTTP: `X-Cache`). */
  read<T>(key: string, loader: Loader<T>, options: SetOptions = {}): Promise<CacheRead<T>> {
    const local = this.readL1(key);
    if (local)
      return Promise.resolve({ entry: local.entry as Entry<T>, json: local.json, source: 'l1' });
    const running = this.inflight.get(key);
    if (running) return running as Promise<CacheRead<T>>;
    const p = this.readThrough(key, loader, options).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p as Promise<CacheRead<T>>;
  }

  /**
   * Reads many keys: L1, then one MGET, then `loadMany` once for the keys no
   * level had (each miss is lease-guarded like a single read). `loadMany`
   * returns the found values by key; keys it leaves out are cached as absent.
   */
  async readMany<T>(
    keys: readonly string[],
    loadMany: (missing: readonly string[]) => Promise<ReadonlyMap<string, T>>,
    options: SetOptions = {},
  ): Promise<Map<string, CacheRead<T>>> {
    const out = new Map<string, CacheRead<T>>();
    const pending: string[] = [];
    for (const key of new Set(keys)) {
      const local = this.readL1(key);
      if (local) out.set(key, { entry: local.entry as Entry<T>, json: local.json, source: 'l1' });
      else pending.push(key);
    }
    if (pending.length === 0) return out;

    const fills = new Map<string, Fill | null>(pending.map((k) => [k, this.beginFill(k)]));
    try {
      const raws = await this.l2.mget(pending);
      const misses: string[] = [];
      pending.forEach((key, i) => {
        const entry = raws === undefined ? null : decodeEntry<T>(raws[i]);
        if (entry === null) {
          misses.push(key);
          return;
        }
        this.counters.hitsL2++;
        const json = entry.present ? (entryJson(raws?.[i] ?? '') ?? null) : null;
        this.storeL1(fills.get(key) ?? null, key, entry, json);
        out.set(key, { entry, json, source: 'l2' });
      });
      if (misses.length === 0) return out;
      this.counters.missesL2 += misses.length;

      // Take the leases of all misses in one round trip (auto-pipelined).
      const tokens = misses.map(() => token());
      const leases =
        raws === undefined
          ? undefined
          : await Promise.all(misses.map((k, i) => this.l2.leaseGet(k, tokens[i] as string)));
      const toLoad: string[] = [];
      const missIndex = new Map(misses.map((key, i) => [key, i]));
      misses.forEach((key, i) => {
        const lease = leases?.[i];
        const entry = lease?.kind === 'hit' ? decodeEntry<T>(lease.raw) : null;
        if (lease?.kind === 'hit' && entry !== null) {
          const json = entry.present ? entryJson(lease.raw) : null;
          out.set(key, { entry, json, source: 'l2' });
        } else toLoad.push(key);
      });
      if (toLoad.length === 0) return out;
      this.counters.dbLoads += toLoad.length;
      const found = await loadMany(toLoad);
      await Promise.all(
        toLoad.map(async (key) => {
          const i = missIndex.get(key) as number;
          const value = found.get(key);
          const entry: Entry<T> =
            value === undefined || value === null ? ABSENT : { present: true, value };
          const raw = encodeEntry(entry);
          const json = entryJson(raw);
          out.set(key, { entry, json, source: 'miss' });
          if (leases?.[i]?.kind !== 'granted') return; // another reader fills it
          const ok = await this.l2.fill(key, tokens[i] as string, raw, this.ttlFor(entry, options));
          if (ok) this.storeL1(fills.get(key) ?? null, key, entry, json);
          else this.counters.fillsDropped++;
        }),
      );
      return out;
    } finally {
      for (const f of fills.values()) if (f) this.fills.end(f);
    }
  }

  /** getMany for library users: values by key (null = absent). */
  async getMany<T>(
    keys: readonly string[],
    loadMany: (missing: readonly string[]) => Promise<ReadonlyMap<string, T>>,
    options: SetOptions = {},
  ): Promise<Map<string, T | null>> {
    const reads = await this.readMany(keys, loadMany, options);
    return new Map([...reads].map(([k, r]) => [k, r.entry.present ? r.entry.value : null]));
  }

  /** The seed's cache-aside: identical to getOrSet (lease-guarded). */
  cacheAside<T>(key: string, loader: Loader<T>, options: SetOptions = {}): Promise<T | null> {
    return this.getOrSet(key, loader, options);
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
    options: SetOptions & { lockMs?: number; waitMs?: number } = {},
  ): Promise<T | null> {
    const cached = await this.get<T>(key);
    if (cached !== undefined) return cached;
    const lockKey = RedisKeys.lock(key);
    const owner = token();
    const deadline = Date.now() + (options.waitMs ?? 3000);
    let delay = 5;
    for (;;) {
      const acquired = await this.l2.tryOp('lock', () =>
        this.options.redis.set(lockKey, owner, 'PX', options.lockMs ?? 5000, 'NX'),
      );
      if (acquired === 'OK') {
        try {
          // Double-check: the previous owner may have filled it meanwhile.
          return await this.getOrSet(key, loader, options);
        } finally {
          await this.l2.releaseLock(lockKey, owner);
        }
      }
      if (acquired === undefined || Date.now() >= deadline) {
        // Redis is down or the holder is slow: read the database without filling.
        this.counters.dbLoads++;
        const v = await loader();
        return v ?? null;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
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
    const ok = await this.l2.fill(key, t, encodeEntry(entry), this.ttlFor(entry, options));
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
      const ok = await this.l2.fill(key, t, encodeEntry(entry), this.ttlFor(entry, options));
      if (!ok) this.counters.fillsDropped++;
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

  async deleteMany(keys: readonly string[]): Promise<boolean> {
    this.evictLocal(keys);
    const ok = await this.l2.unlink(keys);
    await this.publish({ keys });
    return ok;
  }

  /** Removes every key matching a Redis glob, by SCAN + UNLINK in batches (never KEYS). */
  async invalidatePattern(glob: string): Promise<number> {
    this.fills.invalidatePattern(glob);
    this.l1?.deletePattern(glob);
    const removed = await this.l2.unlinkPattern(glob);
    await this.publish({ patterns: [glob] });
    return removed ?? 0;
  }

  /** Alias of deleteMany, the seed's name. */
  invalidate(keys: readonly string[]): Promise<boolean> {
    return this.deleteMany(keys);
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

  private readL1(key: string): LocalEntry | undefined {
    if (this.l1 === null) return undefined;
    if (!this.bus.usable) {
      this.counters.missesL1++;
      return undefined;
    }
    const hit = this.l1.get(key);
    if (hit) this.counters.hitsL1++;
    else this.counters.missesL1++;
    return hit;
  }

  private beginFill(key: string): Fill | null {
    return this.l1 !== null && this.bus.usable ? this.fills.begin(key) : null;
  }

  private storeL1(fill: Fill | null, key: string, entry: Entry, json: string | null): void {
    if (fill === null || this.l1 === null) return;
    if ((fill.stale && !this.options.unsafe?.noFillTracking) || !this.bus.usable) {
      this.counters.fillsDropped++;
      return;
    }
    this.l1.set(key, { entry, json });
  }

  private async readThrough(
    key: string,
    loader: Loader<unknown>,
    options: SetOptions,
  ): Promise<CacheRead<unknown>> {
    // Registered before the L2 read: an invalidation arriving from here on
    // marks this fill stale, and it will not be stored in L1.
    const fill = this.beginFill(key);
    try {
      const t = token();
      // A plain GET first: an L2 hit (the common case) costs no script; the
      // lease script runs only on a miss, and re-checks the value itself.
      const raw = this.options.unsafe?.noLeases ? undefined : await this.l2.get(key);
      let lease: LeaseResult | undefined =
        typeof raw === 'string'
          ? { kind: 'hit', raw }
          : this.options.unsafe?.noLeases
            ? await this.unsafeGet(key)
            : raw === undefined
              ? undefined
              : await this.l2.leaseGet(key, t);
      if (lease?.kind === 'busy') {
        this.counters.leaseWaits++;
        const raw = await this.waitForFill(
          key,
          Math.min(Math.max(lease.pttl, 1), this.leaseWaitMs),
        );
        lease = raw === null ? lease : { kind: 'hit', raw };
      }
      if (lease?.kind === 'hit') {
        const entry = decodeEntry(lease.raw);
        if (entry !== null) {
          this.counters.hitsL2++;
          const json = entry.present ? entryJson(lease.raw) : null;
          this.storeL1(fill, key, entry, json);
          return { entry, json, source: 'l2' };
        }
      }
      this.counters.missesL2++;
      this.counters.dbLoads++;
      const value = await loader();
      const entry: Entry =
        value === undefined || value === null ? ABSENT : { present: true, value };
      // One serialisation: the L2 entry, and the JSON text is a slice of it.
      const encoded = encodeEntry(entry);
      const json = entryJson(encoded);
      if (lease?.kind === 'granted') {
        const ok = this.options.unsafe?.noLeases
          ? (await this.l2.tryOp('set', () =>
              this.options.redis.set(key, encoded, 'PX', this.ttlFor(entry, options)),
            )) === 'OK'
          : await this.l2.fill(key, t, encoded, this.ttlFor(entry, options));
        if (ok) this.storeL1(fill, key, entry, json);
        else this.counters.fillsDropped++;
      }
      // Without a lease (Redis down, or another reader's fill never came)
      // the value is served but cached nowhere.
      return { entry, json, source: 'miss' };
    } finally {
      if (fill) this.fills.end(fill);
    }
  }

  /** The read of a cache without leases (unsafe.noLeases): a hit, or "go ahead and fill". */
  private async unsafeGet(key: string): Promise<LeaseResult | undefined> {
    const raw = await this.l2.get(key);
    if (raw === undefined) return undefined;
    return raw === null ? { kind: 'granted' } : { kind: 'hit', raw };
  }

  /** Polls L2 for another reader's fill, with backoff, until `waitMs`. */
  private async waitForFill(key: string, waitMs: number): Promise<string | null> {
    const deadline = Date.now() + waitMs;
    let delay = 2;
    while (Date.now() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
      delay = Math.min(delay * 2, 25);
      const raw = await this.l2.get(key);
      if (raw === undefined) return null;
      if (raw !== null) return raw;
    }
    return null;
  }

  private ttlFor(entry: Entry, options: SetOptions): number {
    if (!entry.present) return this.negativeTtlMs;
    const base = options.ttlMs ?? this.ttlMs;
    return Math.round(base * (1 + Math.random() * this.ttlJitter));
  }

  private evictLocal(keys: readonly string[]): void {
    this.fills.invalidateKeys(keys);
    if (this.l1) for (const k of keys) this.l1.delete(k);
  }

  private async publish(body: {
    keys?: readonly string[];
    patterns?: readonly string[];
  }): Promise<void> {
    await this.l2.tryOp('publish', () => this.bus.publish(body));
  }
}
