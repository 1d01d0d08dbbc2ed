import type { RowDataPacket } from 'mysql2/promise';
import { SluiceError } from '../errors/index.js';
import type { DbPool } from './createPool.js';

/**
 * How a column's value is written as key text and sent as a parameter:
 * integers in canonical decimal (`007` is `7`, exact beyond 2^53), binary as
 * lowercase hex, everything else as the text itself.
 */
export type ColumnKind = 'integer' | 'binary' | 'text';

/** A query parameter for a key column (see `keyValue`). */
export type KeyParam = string | bigint | Buffer;

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);

export function kindOfType(dataType: string): ColumnKind {
  const t = dataType.toLowerCase();
  if (INTEGER_TYPES.has(t)) return 'integer';
  if (BINARY_TYPES.has(t)) return 'binary';
  return 'text';
}

/** The kind of every column of `db.table`; throws E_TABLE_NOT_FOUND when the table is not visible. */
export async function columnKinds(pool: DbPool, table: string): Promise<Map<string, ColumnKind>> {
  const dot = table.indexOf('.');
  const rows = await pool.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM INFORMATION_SCHEMA.COLUMNS ' +
      'WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [table.slice(0, dot), table.slice(dot + 1)],
  );
  if (rows.length === 0) {
    throw new SluiceError(
      'E_TABLE_NOT_FOUND',
      `table ${table} does not exist (or the database user cannot see it)`,
      { details: { table } },
    );
  }
  return new Map(rows.map((r) => [String(r.name), kindOfType(String(r.type))]));
}

const DIGITS_RE = /^[0-9]+$/;
const HEX_RE = /^(?:[0-9A-Fa-f]{2})*$/;

/**
 * Request text for a key column → its canonical key text (what the daemon
 * renders for that value, so the cache key matches the one it invalidates)
 * and the query parameter; null when the text is not a value of that kind.
 */
export function keyValue(kind: ColumnKind, text: string): { text: string; param: KeyParam } | null {
  switch (kind) {
    case 'integer': {
      if (!DIGITS_RE.test(text)) return null;
      const n = BigInt(text);
      return { text: n.toString(10), param: n };
    }
    case 'binary':
      if (!HEX_RE.test(text)) return null;
      return { text: text.toLowerCase(), param: Buffer.from(text, 'hex') };
    case 'text':
      return { text, param: text };
  }
}
