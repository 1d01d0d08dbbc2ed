import { Counter, type Registry } from 'prom-client';
import { SluiceError } from '../errors/index.js';
import { scrapedCounter, scrapedGauge } from '../infra/scrapedMetrics.js';

export type CacheLevel = 'l1' | 'l2' | 'db';

/** A snapshot of the cache counters (`cache.stats()`). */
export interface CacheStatsSnapshot {
  readonly hits: { readonly l1: number; readonly l2: number };
  readonly misses: { readonly l1: number; readonly l2: number };
  readonly dbLoads: number;
  readonly leaseWaits: number;
  readonly fillsDropped: number;
  readonly l1Resets: number;
  /** Fenced reads (read your own writes): answered by the normal path once the watermark passed, or from the database after the wait. */
  readonly fenced: { readonly passed: number; readonly waited: number; readonly database: number };
  readonly l1Entries: number;
  readonly redisErrors: number;
  /** Invalidation bus counters: messages applied, malformed ignored, seq gaps, L1 resets, heartbeats. */
  readonly bus: {
    readonly messages: number;
    readonly ignored: number;
    readonly gaps: number;
    readonly resets: number;
    readonly heartbeats: number;
  };
  /** Share of reads answered from L1 or L2 (0..1); 0 before any read. */
  readonly hitRate: number;
}

/**
 * Counters of the read path, kept as plain numbers (cheap on the hot path)
 * and exposed as Prometheus metrics when a registry is given.
 */
export class CacheStats {
  hitsL1 = 0;
  hitsL2 = 0;
  missesL1 = 0;
  missesL2 = 0;
  dbLoads = 0;
  leaseWaits = 0;
  fillsDropped = 0;
  l1Resets = 0;
  fencedPassed = 0;
  fencedWaited = 0;
  fencedDatabase = 0;

  constructor(
    registry: Registry | undefined,
    gauges: { l1Entries: () => number; redisErrors: () => number },
  ) {
    if (registry === undefined) return;
    // Every series below is this cache's own: a second cache on the registry
    // would either throw deep in prom-client or, for the unlabelled
    // counters, silently leave the first cache's numbers in place.
    if (registry.getSingleMetric('sluice_cache_hits_total') !== undefined) {
      throw new SluiceError(
        'E_METRICS_REGISTERED',
        'this Prometheus registry already holds the sluice_cache_* metrics of another SluiceCache: give each cache its own registry',
      );
    }
    const read =
      (pick: (s: CacheStats) => number): (() => number) =>
      () =>
        pick(this);
    const hits = { l1: read((s) => s.hitsL1), l2: read((s) => s.hitsL2) };
    const misses = { l1: read((s) => s.missesL1), l2: read((s) => s.missesL2) };
    const counter = (name: string, help: string, value: () => number): void =>
      scrapedCounter(registry, name, help, value);
    new Counter({
      name: 'sluice_cache_hits_total',
      help: 'Cache reads answered by a level (l1, l2).',
      labelNames: ['level'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ level: 'l1' }, hits.l1());
        this.inc({ level: 'l2' }, hits.l2());
      },
    });
    new Counter({
      name: 'sluice_cache_misses_total',
      help: 'Cache reads a level could not answer (l1, l2).',
      labelNames: ['level'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ level: 'l1' }, misses.l1());
        this.inc({ level: 'l2' }, misses.l2());
      },
    });
    counter(
      'sluice_cache_db_loads_total',
      'Rows loaded from the database by the cache.',
      read((s) => s.dbLoads),
    );
    counter(
      'sluice_cache_lease_waits_total',
      "Reads that waited for another reader's fill.",
      read((s) => s.leaseWaits),
    );
    counter(
      'sluice_cache_fills_dropped_total',
      'Fills refused because the lease was lost or an invalidation arrived.',
      read((s) => s.fillsDropped),
    );
    counter(
      'sluice_cache_l1_resets_total',
      'Times L1 was cleared (gap, restart, resubscribe, heartbeat loss, flush).',
      read((s) => s.l1Resets),
    );
    const fenced = {
      passed: read((s) => s.fencedPassed),
      waited: read((s) => s.fencedWaited),
      database: read((s) => s.fencedDatabase),
    };
    new Counter({
      name: 'sluice_cache_fenced_reads_total',
      help: 'Reads with a fence token, by outcome: passed (the watermark was past it), waited (it passed during the wait), database (read from the database after the wait, not cached).',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, value] of Object.entries(fenced)) this.inc({ outcome }, value());
      },
    });
    counter(
      'sluice_cache_redis_errors_total',
      'Redis operations of the cache that failed.',
      gauges.redisErrors,
    );
    scrapedGauge(registry, 'sluice_cache_l1_entries', 'Entries held in L1.', gauges.l1Entries);
  }

  snapshot(
    l1Entries: number,
    redisErrors: number,
    bus: CacheStatsSnapshot['bus'],
  ): CacheStatsSnapshot {
    const reads = this.hitsL1 + this.missesL1;
    return {
      hits: { l1: this.hitsL1, l2: this.hitsL2 },
      misses: { l1: this.missesL1, l2: this.missesL2 },
      dbLoads: this.dbLoads,
      leaseWaits: this.leaseWaits,
      fillsDropped: this.fillsDropped,
      l1Resets: this.l1Resets,
      fenced: {
        passed: this.fencedPassed,
        waited: this.fencedWaited,
        database: this.fencedDatabase,
      },
      l1Entries,
      redisErrors,
      bus: { ...bus },
      hitRate: reads === 0 ? 0 : (this.hitsL1 + this.hitsL2) / reads,
    };
  }
}
