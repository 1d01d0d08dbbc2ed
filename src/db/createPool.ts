import { performance } from 'node:perf_hooks';
import {
  createPool as createMysqlPool,
  type Pool,
  type ResultSetHeader,
  type RowDataPacket,
} from 'mysql2/promise';
import type { QueryValues } from 'mysql2';
import type { Logger } from 'pino';
import { withTimeout } from '../infra/timeout.js';
import { mysqlConnectionOptions } from '../infra/mysqlConnectionOptions.js';
import { statementShape } from './statementShape.js';

/**
 * The pool limits: the shape of the configuration's `database.pool`, spelled
 * out here so that db/ stays below config/ (config parses into pipeline types,
 * and the pipeline reads through db/); config/schema.ts fails to compile if the
 * two drift. Every field has a default in createPool.
 */
export interface PoolConfig {
  readonly connectionLimit: number;
  readonly maxIdle: number;
  readonly idleTimeoutMs: number;
  readonly enableKeepAlive: boolean;
  readonly slowQueryMs: number;
}

/** What a statement returns: rows for a SELECT, a result header for a write. */
export type QueryResult = RowDataPacket[] | ResultSetHeader;

/**
 * The database handle of the cache module and the read API: a mysql2 pool
 * whose every statement is timed. Values always travel as `?` parameters.
 */
export interface DbPool {
  /** Runs one statement; statements slower than `slowQueryMs` are logged at warn. */
  query<T extends QueryResult = RowDataPacket[]>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<T>;
  /** True when a `SELECT 1` answers within `timeoutMs` (readiness probes). */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Closes every connection; idempotent. */
  end(): Promise<void>;
  /** The underlying mysql2 pool, for transactions and anything else. */
  readonly pool: Pool;
}

/**
 * Opens a pool on `url` (`mysql://user:pass@host:port/db`, TLS options as
 * query parameters) with the limits of `database.pool`. Rows come back exact:
 * BIGINT and DECIMAL as strings, DATETIME/TIMESTAMP as UTC Dates (normalizeRow
 * turns them into ISO strings).
 */
export function createPool(url: string, config: Partial<PoolConfig>, logger: Logger): DbPool {
  const pool = createMysqlPool({
    ...mysqlConnectionOptions(url),
    connectionLimit: config.connectionLimit ?? 100,
    maxIdle: config.maxIdle ?? 20,
    idleTimeout: config.idleTimeoutMs ?? 60_000,
    enableKeepAlive: config.enableKeepAlive ?? true,
    keepAliveInitialDelay: 10_000,
    waitForConnections: true,
    connectTimeout: 10_000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: 'Z',
    dateStrings: false,
  });
  const slowMs = config.slowQueryMs ?? 100;
  const log = logger.child({ component: 'db' });
  let ended: Promise<void> | null = null;

  const query = async <T extends QueryResult>(
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<T> => {
    const started = performance.now();
    try {
      // mysql2 formats the values client-side (escaped, BigInt as an exact integer).
      const [result] = await pool.query<T>(sql, params as QueryValues);
      return result;
    } finally {
      const ms = performance.now() - started;
      // The shape only: parameter values may be personal data or secrets.
      if (ms > slowMs) {
        log.warn(
          { durationMs: Math.round(ms), thresholdMs: slowMs, sql: statementShape(sql) },
          'slow query',
        );
      }
    }
  };

  return {
    pool,
    query,
    async ping(timeoutMs = 1000): Promise<boolean> {
      const answered = pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      return (await withTimeout(answered, timeoutMs)) === true;
    },
    end(): Promise<void> {
      ended ??= pool.end().catch((err: unknown) => {
        log.debug({ err: (err as Error).message }, 'pool end failed');
      });
      return ended;
    },
  };
}
