import Fastify from 'fastify';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, registerHttpMetrics } from '../../src/http/httpMetrics.js';

const REQUESTS = 'sluice_http_requests_total';
const DURATION = 'sluice_http_request_duration_seconds';

/** What prom-client's own Counter and Histogram write for the same observations. */
function reference(observations: ReadonlyArray<[string, string, number, number]>): Registry {
  const registry = new Registry();
  const labelNames = ['route', 'method', 'status'];
  const requests = new Counter({
    name: REQUESTS,
    help: 'HTTP requests answered, by route template, method and status.',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: DURATION,
    help: 'HTTP request duration in seconds, by route template, method and status.',
    labelNames,
    buckets: [...DURATION_BUCKETS],
    registers: [registry],
  });
  for (const [route, method, status, seconds] of observations) {
    const labels = { route, method, status: String(status) };
    requests.inc(labels);
    duration.observe(labels, seconds);
  }
  return registry;
}

const observations: ReadonlyArray<[string, string, number, number]> = [
  ['/v1/users/:id', 'GET', 200, 0.0005], // on a bound: counted in it (le is inclusive)
  ['/v1/users/:id', 'GET', 200, 0.00051],
  ['/v1/users/:id', 'GET', 200, 0.003],
  ['/v1/users/:id', 'GET', 404, 0.2],
  ['/v1/users', 'GET', 200, 3], // past the last bound: +Inf only
  ['(unmatched)', 'POST', 404, 0],
];

describe('HTTP metrics', () => {
  it("expose exactly what prom-client's Counter and Histogram would, text and JSON", async () => {
    const registry = new Registry();
    const series = registerHttpMetrics(Fastify(), registry);
    for (const [route, method, status, seconds] of observations) {
      series.observe(route, method, status, seconds);
    }
    const expected = reference(observations);
    for (const name of [REQUESTS, DURATION]) {
      expect(await registry.getSingleMetricAsString(name)).toBe(
        await expected.getSingleMetricAsString(name),
      );
    }
    // JSON too, but for prom-client's empty exemplar fields (only OpenMetrics writes exemplars).
    const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      metrics.map((m) => ({
        ...m,
        values: m.values.map((v) => {
          const rest: Partial<typeof v & { exemplar: unknown }> = { ...v };
          delete rest.exemplar;
          return rest;
        }),
      }));
    expect(await registry.getMetricsAsJSON()).toEqual(
      withoutExemplars(await expected.getMetricsAsJSON()),
    );
    expect(await registry.getSingleMetricAsString(DURATION)).toContain(
      `${DURATION}_bucket{le="0.0005",route="/v1/users/:id",method="GET",status="200"} 1\n`,
    );
  });

  it('count each response by route template, method and status, from the hook', async () => {
    const registry = new Registry();
    const app = Fastify();
    registerHttpMetrics(app, registry);
    app.get('/v1/users/:id', (req, reply) =>
      (req.params as { id: string }).id === '1' ? reply.send('{}') : reply.code(404).send('{}'),
    );
    for (const id of ['1', '1', '1', '2', '2']) await app.inject({ url: `/v1/users/${id}` });
    await app.inject({ url: '/nowhere' });
    const text = await registry.metrics();
    const line = (metric: string, route: string, status: number): string =>
      `${metric}{route="${route}",method="GET",status="${status}"}`;
    expect(text).toContain(`${line(REQUESTS, '/v1/users/:id', 200)} 3\n`);
    expect(text).toContain(`${line(REQUESTS, '/v1/users/:id', 404)} 2\n`);
    expect(text).toContain(`${line(REQUESTS, '(unmatched)', 404)} 1\n`);
    expect(text).toContain(`${line(`${DURATION}_count`, '/v1/users/:id', 200)} 3\n`);
    expect(text).toContain(`${line(`${DURATION}_count`, '(unmatched)', 404)} 1\n`);
    await app.close();
  });

  it('a second server on the same registry adds to the same series; resetMetrics starts them over', async () => {
    const registry = new Registry();
    const a = registerHttpMetrics(Fastify(), registry);
    const b = registerHttpMetrics(Fastify(), registry);
    expect(b).toBe(a);
    a.observe('/x', 'GET', 200, 0.001);
    b.observe('/x', 'GET', 200, 0.001);
    expect(await registry.getSingleMetricAsString(REQUESTS)).toContain(
      `${REQUESTS}{route="/x",method="GET",status="200"} 2`,
    );
    registry.resetMetrics();
    expect(await registry.getSingleMetricAsString(REQUESTS)).not.toContain('route="/x"');
    expect(await registry.getSingleMetricAsString(DURATION)).not.toContain('route="/x"');
    // After registry.clear() the metrics are registered again, on the same series.
    registry.clear();
    const c = registerHttpMetrics(Fastify(), registry);
    expect(c).toBe(a);
    c.observe('/y', 'GET', 200, 0.001);
    expect(await registry.getSingleMetricAsString(DURATION)).toContain(
      `${DURATION}_count{route="/y",method="GET",status="200"} 1`,
    );
  });
});
