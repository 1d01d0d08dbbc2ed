import type { SluiceError } from '../../errors/index.js';
import type { SourceEvent } from '../change/RowChange.js';
import type { BinlogPosition } from '../position.js';
import type { ServerChange } from './ServerCheck.js';

/** What the source tells the pipeline. Called synchronously in binlog order. */
export interface SourceHandler {
  onEvent(event: SourceEvent): void;
  /** A connection to the stream is established and the server accepted the start point. */
  onConnected?(at: BinlogPosition | null): void;
  /** The source cannot continue (e.g. the position was purged). */
  onFatal(error: SluiceError): void;
  /**
   * The server that answered is not the one the resume position belongs to.
   * The source has stopped without reading anything from it; the handler
   * decides (follow by GTID, flush, fail). Without this handler it is fatal
   * (E_SOURCE_CHANGED).
   */
  onServerChanged?(change: ServerChange): void;
}
