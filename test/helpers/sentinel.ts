import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ROOT } from './cli.js';

/** A Sentinel group of scripts/sentinel.sh: a primary, a replica, three Sentinels. */
export interface SentinelGroup {
  /** `HOST:PORT` of each Sentinel. */
  readonly sentinels: readonly string[];
  readonly name: string;
  /** The ports the primary and the replica started on (a failover swaps their roles). */
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** The `redis:` section of a configuration that uses the group. */
  readonly yaml: string;
  /** The pid of the redis-server on `port`. */
  pid(port: number): number;
  /** A plain client of the server on `port` (not through the Sentinels). */
  client(port: number): Redis;
  /** The port of the primary the Sentinels name now. */
  primaryNow(): number;
  down(): void;
}

/**
 * Starts a fresh group (`down` then `up`): its own folder under
 * `<dataDir>/sentinel` (default the repository's .data, never the shared
 * services' folder), ports from SLUICE_SENTINEL_REDIS_PORTS and
 * SLUICE_SENTINEL_PORTS (defaults 6420-6421 and 6425-6427).
 */
export function sentinelGroup(dataDir = join(ROOT, '.data')): SentinelGroup {
  const env = { ...process.env, SLUICE_DATA_DIR: dataDir };
  const run = (...args: string[]): string =>
    execFileSync('bash', ['scripts/sentinel.sh', ...args], { cwd: ROOT, env, encoding: 'utf8' });
  run('down');
  run('up');
  const vars = new Map<string, string>();
  for (const line of run('env').split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) vars.set(m[1], m[2]);
  }
  const sentinels = (vars.get('SLUICE_TEST_SENTINELS') ?? '').split(',');
  const name = vars.get('SLUICE_TEST_SENTINEL_NAME') ?? '';
  const dir = vars.get('SLUICE_TEST_SENTINEL_DIR') ?? '';
  return {
    sentinels,
    name,
    primaryPort: Number(vars.get('SLUICE_TEST_SENTINEL_PRIMARY_PORT')),
    replicaPort: Number(vars.get('SLUICE_TEST_SENTINEL_REPLICA_PORT')),
    yaml: `redis:\n  sentinels: [${sentinels.map((s) => `"${s}"`).join(', ')}]\n  name: ${name}\n`,
    pid: (port) => Number(readFileSync(join(dir, String(port), 'pid'), 'utf8').trim()),
    client: (port) => {
      const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      return redis;
    },
    primaryNow: () => Number(run('primary-port').trim().split(':').pop()),
    down: () => void run('down'),
  };
}
