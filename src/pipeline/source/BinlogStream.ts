import type { Logger } from 'pino';
import type { TableName } from '../change/RowChange.js';
import { describeServer } from '../ServerIdentity.js';
import { BinlogSource, type SourceHandler, type StartPoint } from './BinlogSource.js';

/** The daemon's `source` settings a stream connects with. */
export interface StreamSettings {
  readonly url: string;
  readonly serverId: number;
  readonly heartbeatMs: number;
  readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
}

/** Which tables and columns to decode (KeyMapper). */
export interface StreamDecoding {
  readonly tables: readonly TableName[];
  decodeColumns(): Map<TableName, ReadonlySet<string>>;
}

/**
 * The daemon's binlog stream: one BinlogSource at a time, a fresh one for
 * every start (the first, a policy continuing from the end or by GTID, a
 * re-stream), with the same settings and handler.
 */
export class BinlogStream {
  private source: BinlogSource | null = null;

  constructor(
    private readonly settings: StreamSettings,
    private readonly decoding: StreamDecoding,
    private readonly logger: Logger,
    private readonly handler: SourceHandler,
  ) {}

  /** False before the first start and while dropped (a re-stream). */
  get active(): boolean {
    return this.source !== null;
  }

  /** True while the binlog is paused for backpressure. */
  get paused(): boolean {
    return this.source?.isPaused ?? false;
  }

  /** The server the binlog is read from (`mariadb server_id 2 (domain 0) at db2:3306`), or null. */
  get serverInUse(): string | null {
    const server = this.source?.server;
    return server === undefined ? null : `${describeServer(server)} at ${this.source?.host ?? '?'}`;
  }

  /** Streams from `from` with a new source (the one before is not stopped: it ended, or was dropped). */
  start(from: StartPoint): void {
    const { settings, decoding } = this;
    this.source = new BinlogSource(
      {
        url: settings.url,
        serverId: settings.serverId,
        heartbeatMs: settings.heartbeatMs,
        reconnect: settings.reconnect,
        tables: decoding.tables,
        columns: decoding.decodeColumns(),
        logger: this.logger,
      },
      this.handler,
    );
    this.source.start(from);
  }

  /** Forgets the source (inactive until the next start) and stops it; settles once it stopped. */
  drop(): Promise<void> | undefined {
    const source = this.source;
    this.source = null;
    return source?.stop();
  }

  /** Stops the source, keeping it (its server stays known). */
  stop(): Promise<void> | undefined {
    return this.source?.stop();
  }

  pause(): void {
    this.source?.pause();
  }

  resume(): void {
    this.source?.resume();
  }
}
