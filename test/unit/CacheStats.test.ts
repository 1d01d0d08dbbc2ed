import { Registry, register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CacheStats } from '../../src/cache/CacheStats.js';
import { sampleValue } from '../helpers/metrics.js';

const BUS = { messages: 31, ignored: 37, gaps: 41, resets: 43, heartbeats: 47 };

/** Every counter set to its own value (none 0 or 1), so no two can be confused. */
function fill(stats: CacheStats): void {
  stats.hitsL1 = 3;
  stats.hitsL2 = 2;
  stats.missesL1 = 5;
  stats.missesL2 = 7;
  stats.dbLoads = 11;
  stats.leaseWaits = 13;
  stats.fillsDropped = 17;
  stats.l1Resets = 19;
  stats.fencedPassed = 23;
  stats.fencedWaited = 29;
  stats.fencedDatabase = 53;
}

describe('CacheStats', () => {
  it('starts at zero; hitRate is 0 before any read', () => {
    const stats = new CacheStats(undefined, { l1Entries: () => 0, redisErrors: () => 0 });
    expect(stats.snapshot(0, 0, BUS)).toStrictEqual({
      hits: { l1: 0, l2: 0 },
      misses: { l1: 0, l2: 0 },
      dbLoads: 0,
      leaseWaits: 0,
      fillsDropped: 0,
      l1Resets: 0,
      fenced: { passed: 0, waited: 0, database: 0 },
      l1Entries: 0,
      redisErrors: 0,
      bus: BUS,
      hitRate: 0,
    });
  });

  it('a snapshot: every counter in its place, a copy of the bus counters, hits of either level over reads', () => {
    const stats = new CacheStats(undefined, { l1Entries: () => 0, redisErrors: () => 0 });
    fill(stats);
    const bus = { ...BUS };
    const snap = stats.snapshot(59, 61, bus);
    expect(snap).toStrictEqual({
      hits: { l1: 3, l2: 2 },
      misses: { l1: 5, l2: 7 },
      dbLoads: 11,
      leaseWaits: 13,
      fillsDropped: 17,
      l1Resets: 19,
      fenced: { passed: 23, waited: 29, database: 53 },
      l1Entries: 59,
      redisErrors: 61,
      bus: BUS,
      // Every read asks L1 first: reads = L1 hits + L1 misses = 8; answered by L1 or L2: 3 + 2.
      hitRate: 5 / 8,
    });
    bus.messages = 0;
    expect(snap.bus.messages).toBe(31);
    stats.hitsL1 = 8;
    stats.missesL1 = 0;
    stats.hitsL2 = 0;
    expect(stats.snapshot(0, 0, BUS).hitRate).toBe(1);
  });

  it('without a registry: counts only, registers no metric (not even in the default registry)', () => {
    const stats = new CacheStats(undefined, { l1Entries: () => 1, redisErrors: () => 1 });
    stats.hitsL1 = 1;
    expect(stats.snapshot(0, 0, BUS).hits.l1).toBe(1);
    expect(register.getMetricsAsArray().map((m) => m.name)).toEqual([]);
  });

  it('with a registry: each counter is a metric, read at scrape time (exact exposition)', async () => {
    const registry = new Registry();
    let l1Entries = 59;
    let redisErrors = 61;
    const stats = new CacheStats(registry, {
      l1Entries: () => l1Entries,
      redisErrors: () => redisErrors,
    });
    fill(stats);
    expect(await registry.metrics()).toBe(
      [
        '# HELP sluice_cache_hits_total Cache reads answered by a level (l1, l2).',
        '# TYPE sluice_cache_hits_total counter',
        'sluice_cache_hits_total{level="l1"} 3',
        'sluice_cache_hits_total{level="l2"} 2',
        '',
        '# HELP sluice_cache_misses_total Cache reads a level could not answer (l1, l2).',
        '# TYPE sluice_cache_misses_total counter',
        'sluice_cache_misses_total{level="l1"} 5',
        'sluice_cache_misses_total{level="l2"} 7',
        '',
        '# HELP sluice_cache_db_loads_total Rows loaded from the database by the cache.',
        '# TYPE sluice_cache_db_loads_total counter',
        'sluice_cache_db_loads_total 11',
        '',
        "# HELP sluice_cache_lease_waits_total Reads that waited for another reader's fill.",
        '# TYPE sluice_cache_lease_waits_total counter',
        'sluice_cache_lease_waits_total 13',
        '',
        '# HELP sluice_cache_fills_dropped_total Fills refused because the lease was lost or an invalidation arrived.',
        '# TYPE sluice_cache_fills_dropped_total counter',
        'sluice_cache_fills_dropped_total 17',
        '',
        '# HELP sluice_cache_l1_resets_total Times L1 was cleared (gap, restart, resubscribe, heartbeat loss, flush).',
        '# TYPE sluice_cache_l1_resets_total counter',
        'sluice_cache_l1_resets_total 19',
        '',
        '# HELP sluice_cache_fenced_reads_total Reads with a fence token, by outcome: passed (the watermark was past it), waited (it passed during the wait), database (read from the database after the wait, not cached).',
        '# TYPE sluice_cache_fenced_reads_total counter',
        'sluice_cache_fenced_reads_total{outcome="passed"} 23',
        'sluice_cache_fenced_reads_total{outcome="waited"} 29',
        'sluice_cache_fenced_reads_total{outcome="database"} 53',
        '',
        '# HELP sluice_cache_redis_errors_total Redis operations of the cache that failed.',
        '# TYPE sluice_cache_redis_errors_total counter',
        'sluice_cache_redis_errors_total 61',
        '',
        '# HELP sluice_cache_l1_entries Entries held in L1.',
        '# TYPE sluice_cache_l1_entries gauge',
        'sluice_cache_l1_entries 59',
        '',
      ].join('\n'),
    );

    // A later scrape shows the values then, not a sum of scrapes.
    stats.hitsL1 = 4;
    stats.missesL2 = 8;
    stats.dbLoads = 12;
    stats.fencedDatabase = 54;
    l1Entries = 0;
    redisErrors = 62;
    const text = await registry.metrics();
    expect(sampleValue(text, 'sluice_cache_hits_total{level="l1"}')).toBe(4);
    expect(sampleValue(text, 'sluice_cache_hits_total{level="l2"}')).toBe(2);
    expect(sampleValue(text, 'sluice_cache_misses_total{level="l2"}')).toBe(8);
    expect(sampleValue(text, 'sluice_cache_db_loads_total')).toBe(12);
    expect(sampleValue(text, 'sluice_cache_lease_waits_total')).toBe(13);
    expect(sampleValue(text, 'sluice_cache_fenced_reads_total{outcome="database"}')).toBe(54);
    expect(sampleValue(text, 'sluice_cache_redis_errors_total')).toBe(62);
    expect(sampleValue(text, 'sluice_cache_l1_entries')).toBe(0);
  });

  it('one cache per registry: a second is refused with E_METRICS_REGISTERED, the first keeps its series', async () => {
    const registry = new Registry();
    const first = new CacheStats(registry, { l1Entries: () => 0, redisErrors: () => 0 });
    fill(first);
    expect(() => new CacheStats(registry, { l1Entries: () => 0, redisErrors: () => 0 })).toThrow(
      expect.objectContaining({
        code: 'E_METRICS_REGISTERED',
        message: expect.stringContaining('give each cache its own registry') as unknown,
      }),
    );
    const text = await registry.metrics();
    expect(sampleValue(text, 'sluice_cache_db_loads_total')).toBe(11);
    expect(sampleValue(text, 'sluice_cache_lease_waits_total')).toBe(13);
  });
});
