import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { validateConfig } from '../../src/config/schema.js';
import type { DbPool } from '../../src/db/createPool.js';
import { buildServer } from '../../src/http/buildServer.js';
import { systemClock } from '../../src/infra/clock.js';
import { registerDaemonMetrics } from '../../src/pipeline/DaemonMetrics.js';
import { BinlogRetentionWatch } from '../../src/source-admin/BinlogRetention.js';
import { ConsistencyMonitor } from '../../src/verify/ConsistencyMonitor.js';
import { ResourceMatcher } from '../../src/verify/ResourceMatcher.js';
import { registerVerifyMetrics } from '../../src/verify/VerifyMetrics.js';

/**
 * The Prometheus text each process serves on GET /metrics, built the way
 * src/cli/{serve,run,verify}.ts build their registries. Nothing connects:
 * Redis is lazy, the pool and the monitor's readers are never used.
 */
export async function exposedMetricsText(): Promise<{
  serve: string;
  run: string;
  verify: string;
}> {
  const logger = pino({ level: 'silent' });
  // `sluice serve`: one registry shared by the cache and the HTTP server
  // (which adds the HTTP metrics and the process defaults).
  const registry = new Registry();
  const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
  const cache = new SluiceCache({ redis, registry, logger });
  const config = validateConfig({
    source: { url: 'mysql://u@127.0.0.1/db' },
    redis: { url: 'redis://127.0.0.1' },
    rules: [{ table: 'db.t', keys: ['t:{id}'] }],
  });
  const app = await buildServer({ config, cache, pool: {} as DbPool, logger, registry });
  try {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    if (res.statusCode !== 200) throw new Error(`serve /metrics: ${res.statusCode}`);
    // `sluice run` (metrics.listen): the daemon's metrics and the binlog retention gauges.
    const runRegistry = new Registry();
    registerDaemonMetrics(
      runRegistry,
      () => null,
      () => false,
    );
    const never = (): Promise<never> => Promise.reject(new Error('not connected'));
    new BinlogRetentionWatch(
      { binaryLogs: never, head: never, checkpoint: never },
      { clock: systemClock, intervalMs: 10_000 },
    ).register(runRegistry);
    // `sluice verify`: the monitor's metrics.
    const verifyRegistry = new Registry();
    const monitor = new ConsistencyMonitor({
      bus: Object.assign(new EventEmitter(), { subscribe: never, unsubscribe: never }),
      channel: 'c',
      resources: [],
      matcher: new ResourceMatcher([], []),
      probe: { read: never },
      progress: { head: never, checkpoint: never, sync: never },
      windowsMs: config.verify.windowsMs,
      sampleRate: 1,
      maxPending: 1,
      horizonMs: 60_000,
      confirmTimeoutMs: 1000,
      clock: systemClock,
      logger,
    });
    registerVerifyMetrics(verifyRegistry, monitor);
    return {
      serve: res.body,
      run: await runRegistry.metrics(),
      verify: await verifyRegistry.metrics(),
    };
  } finally {
    await app.close();
    await cache.close();
    redis.disconnect();
  }
}

/** Metric name → type (`# TYPE` lines) of Prometheus texts. */
export function metricTypes(...texts: string[]): Map<string, string> {
  const types = new Map<string, string>();
  for (const text of texts) {
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      types.set(m[1] as string, m[2] as string);
  }
  return types;
}
