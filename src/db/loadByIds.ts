import type { RowDataPacket } from 'mysql2/promise';
import { renderValue } from '../keys/KeyTemplate.js';
import type { ColumnValue } from '../keys/values.js';
import type { KeyParam } from './columnKinds.js';
import type { DbPool } from './createPool.js';
import { quoteIdentifier, quoteTable } from './quoteIdentifier.js';
import { normalizeRow, type JsonRow } from './rows.js';

/** The most ids one `IN (…)` query carries. */
export const IN_CHUNK = 1000;

/**
 * The rows whose `column` is one of `ids`, by the key text of that column
 * (`renderValue`: canonical decimal for integers, hex for binary), with
 * `IN` queries of at most 1,000 ids each, run one after the other so one
 * request never holds more than one pooled connection. Ids without a row are
 * absent from the map; as in loadById, a row is found only by its exact key text.
 */
export async function loadByIds(
  pool: DbPool,
  table: string,
  column: string,
  ids: readonly (KeyParam | number)[],
  chunkSize = IN_CHUNK,
): Promise<Map<string, JsonRow>> {
  const out = new Map<string, JsonRow>();
  const wanted = new Set(ids.map((id) => renderValue(id)));
  const from = quoteTable(table);
  const col = quoteIdentifier(column, 'column');
  for (let i = 0; i < ids.length; i += chunkSize) {
    const chunk = ids.slice(i, i + chunkSize);
    const rows = await pool.query<RowDataPacket[]>(
      `SELECT * FROM ${from} WHERE ${col} IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const row of rows) {
      const text = renderValue(row[column] as ColumnValue);
      if (text !== null && wanted.has(text)) out.set(text, normalizeRow(row));
    }
  }
  return out;
}
