import type { RowDataPacket } from 'mysql2/promise';
import { renderValue } from '../keys/KeyTemplate.js';
import type { ColumnValue } from '../keys/values.js';
import type { KeyParam } from './columnKinds.js';
import type { DbPool } from './createPool.js';
import { quoteIdentifier, quoteTable } from './quoteIdentifier.js';
import { normalizeRow, type JsonRow } from './rows.js';

/**
 * The row whose `column` (a primary or unique key) equals `id`, normalized
 * for JSON, or null. A row is returned only if its value renders as exactly
 * the same key text as `id`: under a case-insensitive collation `WHERE email
 * = 'ADA@X'` finds `ada@x`, but the daemon invalidates `…:ada@x`, never
 * `…:ADA@X`, so caching that row under the asked-for key could go stale.
 */
export async function loadById(
  pool: DbPool,
  table: string,
  column: string,
  id: KeyParam | number,
): Promise<JsonRow | null> {
  const rows = await pool.query<RowDataPacket[]>(
    `SELECT * FROM ${quoteTable(table)} WHERE ${quoteIdentifier(column, 'column')} = ? LIMIT 1`,
    [id],
  );
  const want = renderValue(id);
  const row = rows.find((r) => renderValue(r[column] as ColumnValue) === want);
  return row === undefined ? null : normalizeRow(row);
}
