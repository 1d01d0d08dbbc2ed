/**
 * The values a key template renders. They live in keys/, below the daemon and
 * the read side, because both render keys from rows: the binlog source
 * produces these values (pipeline/change re-exports them with its row
 * changes), and db/'s loaders render the ids of the rows they read with the
 * same renderValue, so a row found by id and the key it is cached under agree.
 */

/**
 * A column value as the binlog source delivers it: integers within 2^53 as
 * numbers and beyond as exact decimal strings, DECIMAL as strings, temporal
 * values as UTC Dates, binary as Buffers, JSON as parsed values.
 */
export type ColumnValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Date
  | Uint8Array
  | readonly unknown[]
  | { readonly [k: string]: unknown };

/** One row image: column name → value. */
export type Row = Readonly<Record<string, ColumnValue>>;
