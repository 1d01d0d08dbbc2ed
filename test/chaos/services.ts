import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

/** Where the chaos suite's own services live. */
/**
 * The chaos services: own data folder and ports (SLUICE_CHAOS_MARIADB_PORT /
 * SLUICE_CHAOS_REDIS_PORT move them, so two checkouts can run chaos files at once).
 */
export const chaosEnv = {
  SLUICE_DATA_DIR: join(ROOT, '.data/chaos'),
  SLUICE_MARIADB_PORT: process.env.SLUICE_CHAOS_MARIADB_PORT ?? '3317',
  SLUICE_REDIS_PORT: process.env.SLUICE_CHAOS_REDIS_PORT ?? '6390',
};

/** Runs `scripts/services.sh <command>` against the chaos services. */
export function services(command: string): void {
  execFileSync('bash', ['scripts/services.sh', command], {
    cwd: ROOT,
    env: { ...process.env, ...chaosEnv },
    stdio: 'ignore',
  });
}

export function mariadbPid(): number {
  return Number(readFileSync(join(chaosEnv.SLUICE_DATA_DIR, 'mariadb/mysqld.pid'), 'utf8').trim());
}

export function redisPid(): number {
  return Number(readFileSync(join(chaosEnv.SLUICE_DATA_DIR, 'redis/redis.pid'), 'utf8').trim());
}

export const redisDir = join(chaosEnv.SLUICE_DATA_DIR, 'redis');

/** Resident set size of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** CPU time (user + system) a process has used, in ms (Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
