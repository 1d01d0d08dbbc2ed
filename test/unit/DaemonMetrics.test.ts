import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerDaemonMetrics } from '../../src/pipeline/DaemonMetrics.js';
import type { Invalidator } from '../../src/pipeline/Invalidator.js';
import { sampleValue } from '../helpers/metrics.js';

/** What the metrics read of a daemon, each counter a distinct number. */
function daemonReading(lastEventAt: number): Invalidator {
  return {
    stats: {
      rows: 11,
      transactions: 12,
      lastEventAt,
      connected: true,
      sourceChanges: 13,
      redisPrimaryChanges: 14,
    },
    sinkStats: {
      rounds: 27,
      batches: 21,
      keys: 22,
      publishes: 23,
      checkpoints: 24,
      retries: 25,
      patternKeys: 26,
    },
    inFlightKeys: 31,
    preparedXaCount: 32,
    checkpointHeld: true,
    paused: true,
  } as unknown as Invalidator;
}

afterEach(() => vi.useRealTimers());

describe('daemon metrics', () => {
  it('each series reads its own counter at scrape time', async () => {
    vi.useFakeTimers({ now: 100_000 });
    const registry = new Registry();
    registerDaemonMetrics(
      registry,
      () => daemonReading(97_500),
      () => true,
    );
    const text = await registry.metrics();
    const expected: Record<string, number> = {
      sluice_daemon_rows_total: 11,
      sluice_daemon_transactions_total: 12,
      sluice_daemon_keys_invalidated_total: 22,
      sluice_daemon_batches_total: 21,
      sluice_daemon_round_trips_total: 27,
      sluice_daemon_checkpoints_total: 24,
      sluice_daemon_redis_retries_total: 25,
      sluice_daemon_redis_primary_changes_total: 14,
      sluice_daemon_pattern_keys_total: 26,
      sluice_daemon_source_changes_total: 13,
      sluice_daemon_lag_seconds: 2.5,
      sluice_daemon_inflight_keys: 31,
      sluice_daemon_xa_prepared: 32,
      sluice_daemon_checkpoint_held: 1,
      sluice_daemon_paused: 1,
      sluice_daemon_connected: 1,
      sluice_daemon_leading: 1,
    };
    for (const [series, value] of Object.entries(expected)) {
      expect({ series, value: sampleValue(text, series) }).toEqual({ series, value });
    }
  });

  it('before the first event the lag is 0; a clock behind the event time gives 0, not a negative lag', async () => {
    vi.useFakeTimers({ now: 100_000 });
    const registry = new Registry();
    let reading = daemonReading(0);
    registerDaemonMetrics(
      registry,
      () => reading,
      () => false,
    );
    expect(sampleValue(await registry.metrics(), 'sluice_daemon_lag_seconds')).toBe(0);
    reading = daemonReading(101_000);
    expect(sampleValue(await registry.metrics(), 'sluice_daemon_lag_seconds')).toBe(0);
    expect(sampleValue(await registry.metrics(), 'sluice_daemon_leading')).toBe(0);
  });

  it('without a daemon (a standby): counters and gauges read 0', async () => {
    const registry = new Registry();
    registerDaemonMetrics(
      registry,
      () => null,
      () => false,
    );
    const text = await registry.metrics();
    expect(sampleValue(text, 'sluice_daemon_rows_total')).toBe(0);
    expect(sampleValue(text, 'sluice_daemon_inflight_keys')).toBe(0);
    expect(sampleValue(text, 'sluice_daemon_connected')).toBe(0);
  });
});
