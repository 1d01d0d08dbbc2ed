import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../infra/clock.js';
import { globToRegExp } from '../keys/glob.js';
import type { Entry } from './codec.js';

/** An L1 entry: the decoded entry and its JSON text (what the read API sends as is). */
export interface LocalEntry {
  readonly entry: Entry;
  /** JSON of the value, or null for a negative entry. */
  readonly json: string | null;
}

export interface LocalCacheOptions {
  /** Most entries held (default 10,000). */
  readonly maxEntries?: number;
  /** Most bytes held, counting key and JSON length (default 64 MiB). */
  readonly maxBytes?: number;
  /** Entry lifetime in ms (default 60 s); a safety net, invalidation is the main path. */
  readonly ttlMs?: number;
}

/**
 * L1: the in-process cache, bounded by entry count and by bytes, with a
 * per-entry TTL. Invalidation (keys, patterns, flush) comes from the bus.
 */
export class LocalCache {
  private readonly lru: LRUCache<string, LocalEntry>;
  readonly ttlMs: number;

  constructor(options: LocalCacheOptions = {}, clock: Clock = systemClock) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.lru = new LRUCache<string, LocalEntry>({
      max: options.maxEntries ?? 10_000,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (v, k) => k.length + (v.json?.length ?? 1) + 64,
      ttl: this.ttlMs,
      ttlAutopurge: false,
      perf: { now: () => clock.now() },
    });
  }

  get(key: string): LocalEntry | undefined {
    return this.lru.get(key);
  }

  set(key: string, value: LocalEntry, ttlMs?: number): void {
    this.lru.set(
      key,
      value,
      ttlMs === undefined ? undefined : { ttl: Math.min(ttlMs, this.ttlMs) },
    );
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /** Drops every key matching a Redis glob; returns how many. */
  deletePattern(glob: string): number {
    const re = globToRegExp(glob);
    let n = 0;
    for (const key of [...this.lru.keys()]) {
      if (re.test(key)) {
        this.lru.delete(key);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }
}
