import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's gauges that end in `_total`, which Prometheus reserves for
 * counters (`promtool check metrics` flags them). Each has a twin without
 * the suffix, labelled by `type`, whose sum is the same figure.
 */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The process/nodejs default metrics on `registry`, minus the misnamed gauges. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED) registry.removeSingleMetric(name);
}
