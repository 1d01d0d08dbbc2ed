import type { ResultSetHeader } from 'mysql2/promise';
import type { DbPool } from './createPool.js';
import { quoteIdentifier, quoteTable } from './quoteIdentifier.js';

/**
 * Inserts `rows` with multi-row `INSERT … VALUES (…), (…)` statements of at
 * most `chunkSize` rows each; returns the number of affected rows. Every row
 * must have the columns of the first one (missing ones would silently become
 * NULL otherwise). The chunks are separate statements: wrap the call in a
 * transaction on one connection when all-or-nothing matters.
 */
export async function batchInsert(
  pool: DbPool,
  table: string,
  rows: readonly Readonly<Record<string, unknown>>[],
  chunkSize = 1000,
): Promise<number> {
  const first = rows[0];
  if (first === undefined) return 0;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`batchInsert: chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const columns = Object.keys(first);
  if (columns.length === 0) throw new RangeError('batchInsert: rows have no columns');
  const head =
    `INSERT INTO ${quoteTable(table)} ` +
    `(${columns.map((c) => quoteIdentifier(c, 'column')).join(', ')}) VALUES `;
  // Checked before the first chunk is written: a bad row fails the whole call.
  rows.forEach((row, i) => {
    const keys = Object.keys(row);
    if (keys.length !== columns.length || !columns.every((c) => Object.hasOwn(row, c))) {
      throw new RangeError(
        `batchInsert: row ${i} has columns [${keys.join(', ')}], expected [${columns.join(', ')}]`,
      );
    }
  });
  const group = `(${columns.map(() => '?').join(', ')})`;
  let affected = 0;
  for (let i = 0; i < rows.length; i += chunkSize) {
    const chunk = rows.slice(i, i + chunkSize);
    const params = chunk.flatMap((row) => columns.map((c) => row[c]));
    const result = await pool.query<ResultSetHeader>(
      head + chunk.map(() => group).join(', '),
      params,
    );
    affected += result.affectedRows;
  }
  return affected;
}
