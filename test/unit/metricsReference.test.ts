import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { validateConfig } from '../../src/config/schema.js';
import type { DbPool } from '../../src/db/createPool.js';
import { buildServer } from '../../src/http/buildServer.js';
import { registerDaemonMetrics } from '../../src/pipeline/DaemonMetrics.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The Node.js process metrics prom-client registers by default (no prefix). */
const DEFAULTS_RE = /^(process|nodejs)_/;

/**
 * What `sluice serve` exposes on GET /metrics, built the way src/cli/serve.ts
 * builds it: one registry shared by the cache (`new SluiceCache({registry})`)
 * and the HTTP server (`buildServer`, which adds the HTTP metrics and the
 * process defaults). Nothing connects: Redis is lazy, the pool is never used.
 */
async function exposedMetrics(): Promise<Map<string, string>> {
  const registry = new Registry();
  const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
  const logger = pino({ level: 'silent' });
  const cache = new SluiceCache({ redis, registry, logger });
  const config = validateConfig({
    source: { url: 'mysql://u@127.0.0.1/db' },
    redis: { url: 'redis://127.0.0.1' },
    rules: [{ table: 'db.t', keys: ['t:{id}'] }],
  });
  const app = await buildServer({ config, cache, pool: {} as DbPool, logger, registry });
  try {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const types = new Map<string, string>();
    // `sluice run`'s registry (metrics.listen): the daemon's metrics.
    const daemonRegistry = new Registry();
    registerDaemonMetrics(
      daemonRegistry,
      () => null,
      () => false,
    );
    for (const text of [res.body, await daemonRegistry.metrics()]) {
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm))
        types.set(m[1] as string, m[2] as string);
    }
    return types;
  } finally {
    await app.close();
    await cache.close();
    redis.disconnect();
  }
}

/** The rows of the README's metrics table: `| \`name\` | type | …`. */
function documentedMetrics(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Metrics reference'));
  const table = section.slice(0, section.indexOf('\n## ', 1));
  const rows = new Map<string, string>();
  for (const m of table.matchAll(/^\| `(sluice_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)) {
    rows.set(m[1] as string, m[2] as string);
  }
  return rows;
}

describe('README metrics reference matches the registries', () => {
  it('every sluice_* metric /metrics exposes is documented with its type, and nothing else', async () => {
    const exposed = await exposedMetrics();
    const own = new Map([...exposed].filter(([name]) => !DEFAULTS_RE.test(name)));
    // Sluice's own metrics all carry the prefix.
    expect([...own.keys()].filter((n) => !n.startsWith('sluice_'))).toEqual([]);
    expect(own.size).toBeGreaterThan(0);
    const documented = documentedMetrics();
    expect(Object.fromEntries([...documented].sort())).toEqual(Object.fromEntries([...own].sort()));
  });

  it('the Node.js defaults are one documented row, and they are really exposed', async () => {
    const exposed = await exposedMetrics();
    const defaults = [...exposed.keys()].filter((n) => DEFAULTS_RE.test(n));
    expect(defaults).toContain('process_cpu_seconds_total');
    expect(defaults).toContain('nodejs_eventloop_lag_seconds');
    expect(readme).toMatch(/^\| `process_\*`, `nodejs_\*` \| process\/nodejs defaults \|/m);
  });
});
