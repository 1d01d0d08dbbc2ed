// The benchmark's own MariaDB + Redis (own data folder and ports, like the
// chaos suite), so a bench never disturbs the test services, and the
// connections every scenario uses.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const MARIADB_PORT = Number(process.env.SLUICE_BENCH_MARIADB_PORT ?? 3327);
const REDIS_PORT = Number(process.env.SLUICE_BENCH_REDIS_PORT ?? 6400);
const HTTP_PORT = Number(process.env.SLUICE_BENCH_HTTP_PORT ?? 18080);

/**
 * The bench's HTTP listeners (`sluice serve`, the bare route) are
 * SLUICE_BENCH_HTTP_PORT + offset, so that two checkouts can bench at once:
 * 0 the default config, 1 latency, 2–4 readApi, 5 readYourWrites.
 */
export function httpPort(offset: number): number {
  return HTTP_PORT + offset;
}

/** Where the bench services live (scripts/services.sh variables). */
export const benchServicesEnv = {
  SLUICE_DATA_DIR: join(ROOT, '.data/bench'),
  SLUICE_MARIADB_PORT: String(MARIADB_PORT),
  SLUICE_REDIS_PORT: String(REDIS_PORT),
};

/** Scratch files of a bench run (configs, profiles), git-ignored. */
export const WORK_DIR = join(ROOT, '.data/bench/work');

const SOURCE = { host: '127.0.0.1', port: MARIADB_PORT, user: 'sluice', password: 'sluice-secret' };

/** scripts/services.sh's redis_socket: in the bench's Redis folder, or in /tmp when that path is too long. */
function redisSocketPath(): string {
  const path = join(ROOT, '.data/bench/redis/redis.sock');
  return path.length > 100 ? `/tmp/sluice-redis-${REDIS_PORT}.sock` : path;
}

export const bench = {
  mariadbPort: MARIADB_PORT,
  redisPort: REDIS_PORT,
  /** The daemon's least-privilege binlog user. */
  sourceUrl: `mysql://sluice:sluice-secret@127.0.0.1:${MARIADB_PORT}/bench`,
  /** DDL, data, reads of the read API. */
  adminUrl: `mysql://sluice_admin:admin-secret@127.0.0.1:${MARIADB_PORT}/bench`,
  admin: { host: '127.0.0.1', port: MARIADB_PORT, user: 'sluice_admin', password: 'admin-secret' },
  source: SOURCE,
  /** ZongJi options of the bare listeners: the connection and decoding options of Sluice's BinlogSource. */
  zongji: {
    ...SOURCE,
    charset: 'UTF8MB4_UNICODE_CI',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  },
  redisUrl: `redis://127.0.0.1:${REDIS_PORT}/0`,
  /** The same Redis by its Unix socket (where scripts/services.sh opens it: redis_socket). */
  redisSocketUrl: `unix://${redisSocketPath()}?db=0`,
  mariadbPidFile: join(ROOT, '.data/bench/mariadb/mysqld.pid'),
  redisPidFile: join(ROOT, '.data/bench/redis/redis.pid'),
} as const;

/** Starts (or checks) the bench MariaDB and Redis; idempotent. */
export function servicesUp(): void {
  execFileSync('bash', ['scripts/services.sh', 'up'], {
    cwd: ROOT,
    env: { ...process.env, ...benchServicesEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** An admin connection to the bench MariaDB (database `bench` created if missing). */
export async function adminConnection(): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    ...bench.admin,
    multipleStatements: true,
    supportBigNumbers: true,
    timezone: 'Z',
  });
  await conn.query('CREATE DATABASE IF NOT EXISTS bench');
  await conn.query('USE bench');
  return conn;
}

/**
 * Empties the bench Redis (it holds nothing but bench state): no stale
 * checkpoint, status record or leader lease of an earlier run is seen.
 */
export async function resetBenchRedis(): Promise<void> {
  const redis = benchRedis();
  try {
    await redis.flushall();
  } finally {
    redis.disconnect();
  }
}

export function benchRedis(): Redis {
  const redis = new Redis(bench.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

/** `SHOW MASTER STATUS`: the current end of the binlog. */
export async function binlogHead(conn: mysql.Connection): Promise<{ file: string; pos: number }> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
  const row = rows[0];
  if (row === undefined) throw new Error('SHOW MASTER STATUS returned nothing (binlog off?)');
  return { file: String(row.File), pos: Number(row.Position) };
}

/**
 * Starts a fresh binlog file and removes the older ones, so a bench run
 * reads a range that starts at a known place and the disk does not fill up.
 */
export async function freshBinlog(conn: mysql.Connection): Promise<{ file: string; pos: number }> {
  await conn.query('FLUSH BINARY LOGS');
  const head = await binlogHead(conn);
  await conn.query(`PURGE BINARY LOGS TO ${conn.escape(head.file)}`);
  return head;
}

/**
 * The range written since `start` (a freshBinlog head) up to the head now,
 * within one binlog file: a range that crossed a rotation is refused.
 */
export async function rangeSince(
  conn: mysql.Connection,
  start: { file: string; pos: number },
): Promise<{ file: string; from: number; to: number }> {
  const end = await binlogHead(conn);
  if (end.file !== start.file) {
    throw new Error(`the range crossed a binlog rotation (${start.file} → ${end.file})`);
  }
  return { file: start.file, from: start.pos, to: end.pos };
}

/** A replica id no other bench connection uses at the same time. */
export function randomServerId(): number {
  return 200_000 + Math.floor(Math.random() * 1_000_000_000);
}
