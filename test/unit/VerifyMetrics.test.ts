import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ConsistencyMonitor, WindowStats } from '../../src/verify/ConsistencyMonitor.js';
import { registerVerifyMetrics } from '../../src/verify/VerifyMetrics.js';

/** Each field its own value, so a series that reads the wrong one shows. */
const window = (base: number): WindowStats => ({
  checks: base + 1,
  stale: { l2: base + 2, api: base + 3 },
  staleChecks: base + 4,
  inFlight: base + 5,
  unconfirmed: base + 6,
  errors: base + 7,
});

/** The parts of a monitor the metrics read, at values a test sets. */
function monitorStub() {
  const windows = new Map<number, WindowStats>([
    [250, window(10)],
    [1000, window(20)],
  ]);
  const nines = new Map([
    [250, 1.5],
    [1000, 2.25],
  ]);
  const monitor = {
    windows,
    stats: { messages: 0, ignored: 0, samples: 41, dropped: 42 },
    tally: { nines: (ms: number) => nines.get(ms) ?? -1 },
    suspects: 43,
    pending: 44,
  };
  return monitor;
}

/** The exposition's sample lines (no HELP/TYPE). */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

describe('registerVerifyMetrics', () => {
  it('exposes every counter and gauge of the monitor, per window where it has one', async () => {
    const registry = new Registry();
    const monitor = monitorStub();
    registerVerifyMetrics(registry, monitor as unknown as ConsistencyMonitor);
    expect(await samples(registry)).toEqual([
      'sluice_verify_samples_total 41',
      'sluice_verify_dropped_total 42',
      'sluice_verify_checks_total{window="250ms"} 11',
      'sluice_verify_checks_total{window="1s"} 21',
      'sluice_verify_stale_total{window="250ms",layer="l2"} 12',
      'sluice_verify_stale_total{window="250ms",layer="api"} 13',
      'sluice_verify_stale_total{window="1s",layer="l2"} 22',
      'sluice_verify_stale_total{window="1s",layer="api"} 23',
      'sluice_verify_in_flight_total{window="250ms"} 15',
      'sluice_verify_in_flight_total{window="1s"} 25',
      'sluice_verify_unconfirmed_total{window="250ms"} 16',
      'sluice_verify_unconfirmed_total{window="1s"} 26',
      'sluice_verify_errors_total{window="250ms"} 17',
      'sluice_verify_errors_total{window="1s"} 27',
      'sluice_verify_consistency_nines{window="250ms"} 1.5',
      'sluice_verify_consistency_nines{window="1s"} 2.25',
      'sluice_verify_suspects 43',
      'sluice_verify_pending_checks 44',
    ]);
  });

  it('reads the monitor again at each scrape: counters are set, not added to', async () => {
    const registry = new Registry();
    const monitor = monitorStub();
    registerVerifyMetrics(registry, monitor as unknown as ConsistencyMonitor);
    await registry.metrics();
    monitor.stats.samples = 50;
    const w = monitor.windows.get(1000);
    if (w === undefined) throw new Error('no 1 s window');
    w.checks = 30;
    w.stale.api = 31;
    monitor.pending = 0;
    const now = await samples(registry);
    expect(now).toContain('sluice_verify_samples_total 50');
    expect(now).toContain('sluice_verify_checks_total{window="1s"} 30');
    expect(now).toContain('sluice_verify_stale_total{window="1s",layer="api"} 31');
    expect(now).toContain('sluice_verify_checks_total{window="250ms"} 11');
    expect(now).toContain('sluice_verify_pending_checks 0');
  });
});
