// Sluice configuration files for the bench processes (the real YAML the CLI loads).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bench, httpPort, randomServerId, WORK_DIR } from './env.js';

export interface BenchConfig {
  readonly name: string;
  readonly startFrom: string;
  readonly channel: string;
  readonly rules: ReadonlyArray<{ table: string; keys: readonly string[] }>;
  readonly resources?: Readonly<Record<string, { table: string; key: string }>>;
  readonly listen?: string;
  readonly invalidation?: Readonly<Record<string, number>>;
  readonly logLevel?: string;
  /** Another `redis.url` than the bench Redis over TCP (e.g. bench.redisSocketUrl). */
  readonly redisUrl?: string;
}

function benchOverrides(): Record<string, number> {
  const raw = process.env.BENCH_INVALIDATION;
  return raw ? (JSON.parse(raw) as Record<string, number>) : {};
}

/** Writes `.data/bench/work/<name>.yaml` and returns its path. */
export function writeConfig(c: BenchConfig): string {
  mkdirSync(WORK_DIR, { recursive: true });
  const file = join(WORK_DIR, `${c.name}.yaml`);
  const doc = {
    source: {
      name: c.name,
      url: bench.sourceUrl,
      serverId: randomServerId(),
      startFrom: c.startFrom,
    },
    database: { url: bench.adminUrl },
    // BENCH_REDIS_SOCKET=1: the daemons reach Redis by its Unix socket instead of 127.0.0.1.
    redis: {
      url:
        c.redisUrl ??
        (process.env.BENCH_REDIS_SOCKET === '1' ? bench.redisSocketUrl : bench.redisUrl),
    },
    // BENCH_INVALIDATION='{"batchMaxKeys":2000}' overrides settings (batch tuning sweeps).
    invalidation: { channel: c.channel, ...c.invalidation, ...benchOverrides() },
    rules: c.rules,
    api: {
      listen: c.listen ?? `127.0.0.1:${httpPort(0)}`,
      resources: c.resources ?? {},
    },
    log: { level: c.logLevel ?? 'info' },
  };
  writeFileSync(file, stringify(doc));
  return file;
}
