import type { FastifyInstance } from 'fastify';
import { Counter, type Metric, type Registry } from 'prom-client';

const REQUESTS = 'sluice_http_requests_total';
const DURATION = 'sluice_http_request_duration_seconds';
/** Upper bounds of the duration histogram, in seconds. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

type Labels = { readonly route: string; readonly method: string; readonly status: string };

/** One (route, method, status): its count, duration sum and per-bucket counts, as plain numbers. */
class Series {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly buckets: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);

  constructor(readonly labels: Labels) {}

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
  }
}

/**
 * The series of one registry, by route → method → status: three map lookups
 * on strings and a number the router and the HTTP parser hand out as the
 * same instances every time. prom-client's labelled metrics hash the label
 * object and validate it on every inc/observe (also through a `labels()`
 * child), which was the largest part of the hook's cost per request; here
 * the per-request work is plain arithmetic and prom-client reads the numbers
 * at scrape time.
 */
export class HttpSeries {
  private readonly byRoute = new Map<string, Map<string, Map<number, Series>>>();

  observe(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.byRoute.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.byRoute.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = new Series({ route, method, status: String(status) });
      byStatus.set(status, series);
    }
    series.observe(seconds);
  }

  *series(): IterableIterator<Series> {
    for (const byMethod of this.byRoute.values()) {
      for (const byStatus of byMethod.values()) yield* byStatus.values();
    }
  }

  clear(): void {
    this.byRoute.clear();
  }
}

/** The series kept for each registry (a second server on one registry adds to the same ones). */
const seriesOf = new WeakMap<Registry, HttpSeries>();

/**
 * `sluice_http_requests_total` and `sluice_http_request_duration_seconds`,
 * labelled by route template (`/v1/users/:id`, never the raw URL: bounded
 * cardinality), method and status. Unmatched URLs share the `(unmatched)`
 * route. The exposition is prom-client's own (a Counter, and a histogram
 * in the shape prom-client's Histogram writes).
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry): HttpSeries {
  let series = seriesOf.get(registry);
  // Registered once per registry (again after a registry.clear()).
  if (series === undefined || registry.getSingleMetric(DURATION) === undefined) {
    const store = series ?? new HttpSeries();
    series = store;
    seriesOf.set(registry, store);
    new Counter({
      name: REQUESTS,
      help: 'HTTP requests answered, by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of store.series()) this.inc(s.labels, s.count);
      },
    });
    registry.registerMetric(durationHistogram(store));
  }
  const store = series;
  app.addHook('onResponse', (req, reply, done) => {
    store.observe(
      req.routeOptions.url ?? '(unmatched)',
      req.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  return store;
}

/** A sample as prom-client's registry reads it (its typings name `type` as a numeric enum; the runtime uses the text). */
interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
  readonly sharedLabels?: Labels;
}

/**
 * The duration histogram as a registry metric: what prom-client's Histogram
 * returns (cumulative `_bucket` samples with `le`, then `_sum` and `_count`,
 * the series' labels shared), built from the plain counts at scrape time.
 */
function durationHistogram(store: HttpSeries): Metric {
  const help = 'HTTP request duration in seconds, by route template, method and status.';
  const exposition = (samples: Sample[]) => ({
    name: DURATION,
    help,
    type: 'histogram',
    aggregator: 'sum',
    values: samples,
  });
  const samples = (): Sample[] => {
    const out: Sample[] = [];
    for (const s of store.series()) {
      const sharedLabels = s.labels;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i] as number;
        out.push({
          labels: { le },
          value: cumulative,
          metricName: `${DURATION}_bucket`,
          sharedLabels,
        });
      });
      out.push({
        labels: { le: '+Inf' },
        value: s.count,
        metricName: `${DURATION}_bucket`,
        sharedLabels,
      });
      out.push({ labels: {}, value: s.sum, metricName: `${DURATION}_sum`, sharedLabels });
      out.push({ labels: {}, value: s.count, metricName: `${DURATION}_count`, sharedLabels });
    }
    return out;
  };
  const metric = {
    ...exposition([]),
    // The text exposition (registry.metrics()): shared labels after `le`, as prom-client writes them.
    getForPromString: () => Promise.resolve(exposition(samples())),
    // JSON (registry.getMetricsAsJSON()): the shared labels merged into each sample's.
    get: () =>
      Promise.resolve(
        exposition(
          samples().map(({ sharedLabels, ...sample }) => ({
            ...sample,
            labels: { ...sample.labels, ...sharedLabels },
          })),
        ),
      ),
    reset: () => store.clear(),
  };
  return metric as unknown as Metric;
}
