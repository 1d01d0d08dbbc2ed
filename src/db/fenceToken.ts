/** Anything that runs one SQL statement: a mysql2/promise Connection or PoolConnection. */
export interface StatementRunner {
  query(sql: string): Promise<unknown>;
}

/** MySQL and MariaDB answer an unknown system variable with this errno. */
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

function firstValue(result: unknown): string {
  const rows = Array.isArray(result) ? (result[0] as unknown) : undefined;
  const row = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined) : undefined;
  if (row === undefined) return '';
  const value = Object.values(row)[0];
  return typeof value === 'string' ? value.replace(/\s+/g, '') : '';
}

function binlogPosition(result: unknown): string {
  const rows = Array.isArray(result) ? (result[0] as unknown) : undefined;
  const row = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined) : undefined;
  if (row === undefined || typeof row.File !== 'string') return '';
  return `${row.File}:${String(row.Position)}`;
}

/**
 * Read your own writes: the fence token of the last commit made on `conn`,
 * to send with the reads that must see it (`X-Sluice-After`, or `after` in
 * the library). Call it on the connection that committed, right after the
 * COMMIT (from a pool: the same PoolConnection, before releasing it).
 *
 *   MariaDB: `SELECT @@last_gtid` (this session's last GTID, e.g. 0-1-42).
 *   MySQL:   `SELECT @@global.gtid_executed` (a GTID set that includes this
 *            session's commit; with `session_track_gtids = OWN_GTID` a driver
 *            that exposes the session state can send the commit's own GTID).
 *   GTIDs off: the server's binlog position (`SHOW MASTER STATUS`, on MySQL
 *            8.4 `SHOW BINARY LOG STATUS`): valid only for that server.
 *
 * Returns '' when the server reports none of these (no binlog).
 */
export async function fenceToken(conn: StatementRunner): Promise<string> {
  try {
    const gtid = firstValue(await conn.query('SELECT @@last_gtid'));
    if (gtid !== '') return gtid;
  } catch (err) {
    if ((err as { errno?: number }).errno !== ER_UNKNOWN_SYSTEM_VARIABLE) throw err;
    const set = firstValue(await conn.query('SELECT @@global.gtid_executed'));
    if (set !== '') return set;
  }
  for (const sql of ['SHOW MASTER STATUS', 'SHOW BINARY LOG STATUS']) {
    try {
      const pos = binlogPosition(await conn.query(sql));
      if (pos !== '') return pos;
    } catch {
      // MySQL 8.4 has only the second form, older servers only the first.
    }
  }
  return '';
}
