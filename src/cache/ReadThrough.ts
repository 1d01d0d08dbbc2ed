import { backoffDelay, type BackoffOptions } from '../infra/backoff.js';
import { systemClock, type Clock } from '../infra/clock.js';
import type { CacheStats } from './CacheStats.js';
import { ABSENT, decodeEntry, encodeEntry, entryJson, type Entry } from './codec.js';
import type { Fill, FillTracker } from './FillTracker.js';
import type { LocalCache, LocalEntry } from './LocalCache.js';
import { FULL_PROTECTION, type Protections } from './protections.js';
import type { LeaseResult, RemoteCache } from './RemoteCache.js';
import { token } from './token.js';
import type { TtlPolicy } from './TtlPolicy.js';

/** Where a read was answered: the `X-Cache` header of the read API. */
/**
 * Which level answered a read (`X-Cache`): l1, l2, miss (loaded and cached),
 * or fenced (a read your own writes fence the watermark had not passed in
 * time: read from the database, not cached).
 */
export type CacheSource = 'l1' | 'l2' | 'miss' | 'fenced';

/** A read result: the entry, its JSON text (null when absent) and where it came from. */
export interface CacheRead<T> {
  readonly entry: Entry<T>;
  readonly json: string | null;
  readonly source: CacheSource;
}

/** Loads one value; null or undefined means "no such row" (cached as a negative entry). */
export type Loader<T> = () => Promise<T | null | undefined>;

/** Loads many values; keys left out of the map are cached as absent. */
export type ManyLoader<T> = (missing: readonly string[]) => Promise<ReadonlyMap<string, T>>;

export interface SetOptions {
  /** L2 lifetime of this entry in ms (default: the cache's ttlMs). */
  readonly ttlMs?: number;
}

export interface ReadThroughOptions {
  /** L1, or null for none. */
  readonly l1: LocalCache | null;
  readonly l2: RemoteCache;
  readonly fills: FillTracker;
  readonly stats: CacheStats;
  /** True while L1 may be read and filled (subscribed, daemon heartbeat fresh). */
  readonly l1Usable: () => boolean;
  readonly ttl: TtlPolicy;
  /** How long a reader waits for another reader's leased fill before loading itself. */
  readonly leaseWaitMs: number;
  readonly protections?: Protections;
  readonly clock?: Clock;
}

/** Polling L2 for another reader's fill: 2 ms, doubling, at most 25 ms. */
const FILL_POLL: BackoffOptions = { initialMs: 2, maxMs: 25 };

/**
 * The read path: L1 → L2 → loader. Reads of one key are single-flight in the
 * process; a miss takes the key's lease in Redis before it loads, so a fill
 * whose lease the daemon's delete removed meanwhile is refused (no stale set,
 * rule 2); every L1 fill is registered with the fill tracker before its L2
 * read, so a fill that an invalidation overtook is not stored (no stale L1,
 * rule 3). Batch reads follow the same two rules key by key.
 */
export class ReadThrough {
  private readonly inflight = new Map<string, Promise<CacheRead<unknown>>>();
  private readonly protections: Protections;
  private readonly clock: Clock;

  constructor(private readonly o: ReadThroughOptions) {
    this.protections = o.protections ?? FULL_PROTECTION;
    this.clock = o.clock ?? systemClock;
  }

  /** The L1 entry of `key`, counted as an L1 hit or miss; undefined while L1 is unusable. */
  readL1(key: string): LocalEntry | undefined {
    if (this.o.l1 === null) return undefined;
    if (!this.o.l1Usable()) {
      this.o.stats.missesL1++;
      return undefined;
    }
    const hit = this.o.l1.get(key);
    if (hit) this.o.stats.hitsL1++;
    else this.o.stats.missesL1++;
    return hit;
  }

  /** The cached entry (L1, then L2), or null when neither level has it. Never loads. */
  async get<T>(key: string): Promise<Entry<T> | null> {
    const local = this.readL1(key);
    if (local) return local.entry as Entry<T>;
    const entry = decodeEntry<T>(await this.o.l2.get(key));
    if (entry === null) this.o.stats.missesL2++;
    else this.o.stats.hitsL2++;
    return entry;
  }

  /** Reads through every level, loading and caching on a miss. */
  read<T>(key: string, loader: Loader<T>, options: SetOptions = {}): Promise<CacheRead<T>> {
    const local = this.readL1(key);
    if (local)
      return Promise.resolve({ entry: local.entry as Entry<T>, json: local.json, source: 'l1' });
    const running = this.inflight.get(key);
    if (running) return running as Promise<CacheRead<T>>;
    const p = this.readMiss(key, loader, options).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p as Promise<CacheRead<T>>;
  }

  /**
   * Reads many keys: L1, then one MGET, then `loadMany` once for the keys no
   * level had. Each miss takes its own lease (one auto-pipelined round trip)
   * and each fill goes through it, as a single read's does.
   */
  async readMany<T>(
    keys: readonly string[],
    loadMany: ManyLoader<T>,
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

    // Registered before the MGET, as a single read's fill is before its GET.
    const fills = new Map<string, Fill | null>(pending.map((k) => [k, this.beginFill(k)]));
    try {
      const raws = await this.o.l2.mget(pending);
      const misses: string[] = [];
      pending.forEach((key, i) => {
        const raw = raws?.[i];
        const entry = decodeEntry<T>(raw);
        if (entry === null) {
          misses.push(key);
          return;
        }
        this.o.stats.hitsL2++;
        const json = entryJson(raw as string);
        this.storeL1(fills.get(key) ?? null, key, entry, json);
        out.set(key, { entry, json, source: 'l2' });
      });
      if (misses.length === 0) return out;
      this.o.stats.missesL2 += misses.length;

      const tokens = misses.map(() => token());
      // Redis down (the MGET failed): load without leases and cache nothing.
      const leases =
        raws === undefined
          ? undefined
          : await Promise.all(misses.map((k, i) => this.lease(k, tokens[i] as string)));
      const toLoad: Array<{ key: string; token: string; lease: LeaseResult | undefined }> = [];
      misses.forEach((key, i) => {
        const lease = leases?.[i];
        const entry = lease?.kind === 'hit' ? decodeEntry<T>(lease.raw) : null;
        // Filled between the MGET and the lease script: no load needed.
        if (lease?.kind === 'hit' && entry !== null) {
          out.set(key, { entry, json: entryJson(lease.raw), source: 'l2' });
        } else toLoad.push({ key, token: tokens[i] as string, lease });
      });
      if (toLoad.length === 0) return out;
      this.o.stats.dbLoads += toLoad.length;
      const found = await loadMany(toLoad.map((m) => m.key));
      await Promise.all(
        toLoad.map(async ({ key, token, lease }) => {
          const value = found.get(key);
          const entry: Entry<T> =
            value === undefined || value === null ? ABSENT : { present: true, value };
          const raw = encodeEntry(entry);
          const json = entryJson(raw);
          out.set(key, { entry, json, source: 'miss' });
          // Busy: another reader fills it; no lease at all: Redis is down.
          if (lease?.kind !== 'granted') return;
          await this.fill(fills.get(key) ?? null, key, token, entry, raw, options);
        }),
      );
      return out;
    } finally {
      for (const f of fills.values()) if (f) this.o.fills.end(f);
    }
  }

  private async readMiss(
    key: string,
    loader: Loader<unknown>,
    options: SetOptions,
  ): Promise<CacheRead<unknown>> {
    // Registered before the L2 read: an invalidation arriving from here on
    // marks this fill stale, and it will not be stored in L1.
    const fill = this.beginFill(key);
    try {
      const t = token();
      let lease = await this.lookup(key, t);
      if (lease?.kind === 'busy') {
        this.o.stats.leaseWaits++;
        const raw = await this.waitForFill(key, Math.min(lease.pttl, this.o.leaseWaitMs));
        if (raw !== null) lease = { kind: 'hit', raw };
      }
      if (lease?.kind === 'hit') {
        const entry = decodeEntry(lease.raw);
        if (entry !== null) {
          this.o.stats.hitsL2++;
          const json = entryJson(lease.raw);
          this.storeL1(fill, key, entry, json);
          return { entry, json, source: 'l2' };
        }
      }
      this.o.stats.missesL2++;
      this.o.stats.dbLoads++;
      const value = await loader();
      const entry: Entry =
        value === undefined || value === null ? ABSENT : { present: true, value };
      // One serialisation: the L2 entry, and the JSON text is a slice of it.
      const raw = encodeEntry(entry);
      const json = entryJson(raw);
      // Without a lease (Redis down, or another reader's fill never came)
      // the value is served but cached nowhere.
      if (lease?.kind === 'granted') await this.fill(fill, key, t, entry, raw, options);
      return { entry, json, source: 'miss' };
    } finally {
      if (fill) this.o.fills.end(fill);
    }
  }

  /**
   * L2 lookup of a single read: a plain GET first (an L2 hit, the common
   * case, costs no script), then on a miss the lease script, which checks
   * the value again. undefined when Redis is down.
   */
  private async lookup(key: string, t: string): Promise<LeaseResult | undefined> {
    const raw = await this.o.l2.get(key);
    if (raw === undefined) return undefined;
    if (raw !== null) return { kind: 'hit', raw };
    return this.lease(key, t);
  }

  /** Takes the fill lease of a missed key (without leases, every miss may fill). */
  private lease(key: string, t: string): Promise<LeaseResult | undefined> {
    if (!this.protections.leases) return Promise.resolve({ kind: 'granted' });
    return this.o.l2.leaseGet(key, t);
  }

  /** Writes a loaded entry to L2 through its lease, then to L1 if the L2 write landed. */
  private async fill(
    fill: Fill | null,
    key: string,
    t: string,
    entry: Entry,
    raw: string,
    options: SetOptions,
  ): Promise<void> {
    const ttlMs = this.o.ttl.forEntry(entry, options.ttlMs);
    const ok = this.protections.leases
      ? await this.o.l2.fill(key, t, raw, ttlMs)
      : await this.o.l2.set(key, raw, ttlMs);
    if (ok) this.storeL1(fill, key, entry, entryJson(raw));
    else this.o.stats.fillsDropped++;
  }

  private beginFill(key: string): Fill | null {
    return this.o.l1 !== null && this.o.l1Usable() ? this.o.fills.begin(key) : null;
  }

  /** Stores a fill in L1 unless an invalidation overtook it or L1 became unusable meanwhile. */
  private storeL1(fill: Fill | null, key: string, entry: Entry, json: string | null): void {
    if (fill === null) return; // no L1, or it was unusable when the read began
    if ((fill.stale && this.protections.fillTracking) || !this.o.l1Usable()) {
      this.o.stats.fillsDropped++;
      return;
    }
    // A fill exists only while there is an L1 (beginFill).
    (this.o.l1 as LocalCache).set(key, { entry, json });
  }

  /** Polls L2 for another reader's fill, with backoff, for up to `waitMs`. */
  private async waitForFill(key: string, waitMs: number): Promise<string | null> {
    const deadline = this.clock.now() + waitMs;
    for (let attempt = 1; this.clock.now() < deadline; attempt++) {
      await this.clock.sleep(
        Math.min(backoffDelay(attempt, FILL_POLL), deadline - this.clock.now()),
      );
      const raw = await this.o.l2.get(key);
      // A value, or Redis down (undefined): stop waiting either way.
      if (raw !== null) return raw ?? null;
    }
    return null;
  }
}
