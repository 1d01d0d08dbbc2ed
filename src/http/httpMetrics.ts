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
  app.addHook('onResponse', (req, reply, done) => {
    const labels = {
      route: req.routeOptions.url ?? '(unmatched)',
      method: req.method,
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
    done();
  });
}
