import type { RowDataPacket } from 'mysql2/promise';
import { renderValue } from '../keys/KeyTemplate.js';
import type { ColumnValue } from '../keys/values.js';
import type { KeyParam } from './columnKinds.js';
import type { DbPool } from './createPool.js';
import { quoteIdentifier, quoteTable } from './quoteIdentifier.js';
import { normalizeRow, type JsonRow } from './rows.js';

/** One page of a list, newest first; `nextCursor` is the `before` of the next page, null on the last. */
export interface KeysetPage {
  readonly items: JsonRow[];
  readonly nextCursor: string | null;
}

/**
 * A page of the rows whose `by` column equals `byValue`, ordered by `cursor`
 * descending, starting below `before` (keyset pagination: `WHERE by = ? AND
 * cursor < ? ORDER BY cursor DESC LIMIT ?`, served by an index on
 * `(by, cursor)` in constant time at any depth; never OFFSET).
 *
 * One row more than `limit` is read to know whether a next page exists, so
 * the last page says `nextCursor: null` instead of leading to an empty one.
 * Rows whose `by` value does not render as exactly `byValue`'s key text (a
 * case-insensitive collation) are left out, as in loadById: the page is
 * cached under the key of that exact text.
 */
export async function keysetPage(
  pool: DbPool,
  table: string,
  columns: { readonly by: string; readonly cursor: string },
  byValue: KeyParam | number,
  before: KeyParam | number | undefined,
  limit: number,
): Promise<KeysetPage> {
  const by = quoteIdentifier(columns.by, 'column');
  const cursor = quoteIdentifier(columns.cursor, 'column');
  const where = before === undefined ? `${by} = ?` : `${by} = ? AND ${cursor} < ?`;
  const params = before === undefined ? [byValue, limit + 1] : [byValue, before, limit + 1];
  const rows = await pool.query<RowDataPacket[]>(
    `SELECT * FROM ${quoteTable(table)} WHERE ${where} ORDER BY ${cursor} DESC LIMIT ?`,
    params,
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const want = renderValue(byValue);
  const items = page
    .filter((r) => renderValue(r[columns.by] as ColumnValue) === want)
    .map((r) => normalizeRow(r));
  const last = page[page.length - 1];
  const nextCursor = more && last ? renderValue(last[columns.cursor] as ColumnValue) : null;
  return { items, nextCursor };
}
