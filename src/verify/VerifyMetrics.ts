import { Counter, Gauge, type Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge } from '../infra/scrapedMetrics.js';
import { windowLabel } from './ConsistencyTally.js';
import type { ConsistencyMonitor, WindowStats } from './ConsistencyMonitor.js';

/**
 * The monitor's Prometheus metrics, read from its counters at scrape time.
 * Every series of every window exists from the start (at 0), so a rate or a
 * ratio over them is defined before the first check.
 */
export function registerVerifyMetrics(registry: Registry, monitor: ConsistencyMonitor): void {
  const perWindow = (name: string, help: string, read: (w: WindowStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['window'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [ms, w] of monitor.windows) this.inc({ window: windowLabel(ms) }, read(w));
      },
    });
  };
  const counter = (name: string, help: string, read: () => number): void =>
    scrapedCounter(registry, name, help, read);
  counter(
    'sluice_verify_samples_total',
    'Invalidated API resource keys sampled for checking.',
    () => monitor.stats.samples,
  );
  counter(
    'sluice_verify_dropped_total',
    'Samples dropped because verify.maxPending checks were already waiting.',
    () => monitor.stats.dropped,
  );
  perWindow(
    'sluice_verify_checks_total',
    'Checks decided, by window after the invalidation (consistent, in flight or stale).',
    (w) => w.checks,
  );
  new Counter({
    name: 'sluice_verify_stale_total',
    help: 'Confirmed stale entries, by window and by the layer that held them (l2, api).',
    labelNames: ['window', 'layer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [ms, w] of monitor.windows) {
        this.inc({ window: windowLabel(ms), layer: 'l2' }, w.stale.l2);
        this.inc({ window: windowLabel(ms), layer: 'api' }, w.stale.api);
      }
    },
  });
  perWindow(
    'sluice_verify_in_flight_total',
    'Mismatches a newer write explained (in flight, not stale), by window.',
    (w) => w.inFlight,
  );
  perWindow(
    'sluice_verify_unconfirmed_total',
    "Mismatches the daemon's checkpoint did not pass within verify.confirmTimeoutMs, by window.",
    (w) => w.unconfirmed,
  );
  perWindow(
    'sluice_verify_errors_total',
    'Checks that failed (Redis, database or API error), by window.',
    (w) => w.errors,
  );
  new Gauge({
    name: 'sluice_verify_consistency_nines',
    help: 'Consistency over verify.horizonMs as nines: -log10((stale+1)/(checks+1)), by window.',
    labelNames: ['window'],
    registers: [registry],
    collect() {
      for (const ms of monitor.windows.keys()) {
        this.set({ window: windowLabel(ms) }, monitor.tally.nines(ms));
      }
    },
  });
  scrapedGauge(
    registry,
    'sluice_verify_suspects',
    "Mismatches waiting for the daemon's checkpoint and the second read.",
    () => monitor.suspects,
  );
  scrapedGauge(
    registry,
    'sluice_verify_pending_checks',
    'Checks waiting for their window.',
    () => monitor.pending,
  );
}
