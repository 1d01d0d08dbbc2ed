import type { BinlogPosition } from '../position.js';

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

/** A fully qualified table name, `db.table`. */
export type TableName = string;

/** One changed row. Updates carry both images: keys of both are invalidated. */
export type RowChange =
  | { readonly kind: 'insert'; readonly table: TableName; readonly after: Row }
  | {
      readonly kind: 'update';
      readonly table: TableName;
      readonly before: Row;
      readonly after: Row;
    }
  | { readonly kind: 'delete'; readonly table: TableName; readonly before: Row };

export type DdlKind = 'truncate' | 'drop' | 'alter' | 'rename' | 'create' | 'other';

/**
 * What the binlog source hands the pipeline. Only `commit` and `ddl` end a
 * transaction: their `position` is a safe place to resume from.
 */
export type SourceEvent =
  | {
      readonly type: 'rows';
      readonly table: TableName;
      readonly changes: readonly RowChange[];
      readonly gtid: string | undefined;
      /** Event time (server clock), ms since epoch. */
      readonly timestamp: number;
    }
  | {
      readonly type: 'commit';
      readonly position: BinlogPosition;
      readonly gtid: string | undefined;
      readonly timestamp: number;
    }
  | {
      readonly type: 'ddl';
      readonly kind: DdlKind;
      /** `db.table` names the statement touches (best effort parse). */
      readonly tables: readonly TableName[];
      readonly query: string;
      readonly position: BinlogPosition;
      readonly gtid: string | undefined;
      readonly timestamp: number;
    }
  | { readonly type: 'heartbeat'; readonly position: BinlogPosition };
