import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * `sluice_http_requests_total` and `sluice_http_request_duration_seconds`,
 * labelled by route template (`/v1/users/:id`, never the raw URL: bounded
 * cardinality), method and status. Unmatched URLs share the `(unmatched)` route.
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const labelNames = ['route', 'method', 'status'] as const;
  const requests =
    (registry.getSingleMetric('sluice_http_requests_total') as Counter<
      (typeof labelNames)[number]
    >) ??
    new Counter({
      name: 'sluice_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status.',
      labelNames,
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('sluice_http_request_duration_seconds') as Histogram<
      (typeof labelNames)[number]
    >) ??
    new Histogram({
      name: 'sluice_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by route template, method and status.',
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  // One labelled child per (route, method, status), looked up by a string
  // key: prom-client would otherwise hash the label object twice per request.
  type Label = (typeof labelNames)[number];
  const children = new Map<string, { count: Counter.Internal; time: Histogram.Internal<Label> }>();
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? '(unmatched)';
    const key = `${route} ${req.method} ${reply.statusCode}`;
    let child = children.get(key);
    if (child === undefined) {
      const labels = { route, method: req.method, status: String(reply.statusCode) };
      child = { count: requests.labels(labels), time: duration.labels(labels) };
      children.set(key, child);
    }
    child.count.inc();
    child.time.observe(reply.elapsedTime / 1000);
    done();
  });
}
