import type { Row } from '../../keys/values.js';
import type { BinlogPosition } from '../position.js';
import type { ServerIdentity } from '../ServerIdentity.js';

// The row value types belong to keys/ (key templates render them); the
// pipeline's row changes carry them.
export type { ColumnValue, Row } from '../../keys/values.js';

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
      /** The GTIDs of everything up to here (see GtidTracker), not only this transaction's. */
      readonly gtid: string | undefined;
      /** The server `position` belongs to. */
      readonly server: ServerIdentity | undefined;
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
      readonly server: ServerIdentity | undefined;
      readonly timestamp: number;
    }
  /**
   * The rows since the last commit end an XA transaction's part (XA END):
   * no XID follows them (XA PREPARE), and XA COMMIT comes later, in a group
   * of its own. Not a place to resume from.
   */
  | { readonly type: 'xaEnd'; readonly xid: string; readonly timestamp: number }
  /** XA COMMIT (`committed`) or XA ROLLBACK of a prepared XA transaction: its rows are visible now, or never. */
  | { readonly type: 'xaOutcome'; readonly xid: string; readonly committed: boolean }
  | { readonly type: 'heartbeat'; readonly position: BinlogPosition };
