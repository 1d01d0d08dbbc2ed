import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.js';
import type { TableName } from '../change/RowChange.js';
import type { BinlogPosition } from '../position.js';

/** What a BinlogSource reads, from where, and how it retries (see BinlogSource). */
export interface BinlogSourceOptions {
  /**
   * The server, or several (`mysql://u:p@db1:3306,db2:3306/app`): then the
   * first primary among them, and a move when it turns read-only.
   */
  readonly url: string;
  readonly serverId: number;
  /** Binlog heartbeat period; no event or heartbeat for 3 periods means a stall. */
  readonly heartbeatMs: number;
  readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** Tables whose row events are decoded (others are skipped at the TableMap). */
  readonly tables: readonly TableName[];
  /**
   * Per table, the only columns row images need to carry (the key
   * templates' columns): the others are skipped undecoded. Tables missing
   * here decode in full.
   */
  readonly columns?: ReadonlyMap<TableName, ReadonlySet<string>>;
  readonly logger: Logger;
  /** Time for stall detection and reconnect delays (default: the system clock). */
  readonly clock?: Clock;
  /** Stop after this position (replay); the handler sees everything before it. */
  readonly stopAt?: BinlogPosition;
}
