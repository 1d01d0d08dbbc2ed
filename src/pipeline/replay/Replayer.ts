import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import type { DdlKind, SourceEvent, TableName } from '../change/RowChange.js';
import { KeyMapper, type MappingRule } from '../mapping/KeyMapper.js';
import { comparePositions, formatPosition, type BinlogPosition } from '../position.js';
import { systemClock } from '../../infra/clock.js';
import { assembleStages, type StageOptions, type Stages } from '../stages.js';
import { BinlogSource } from '../source/BinlogSource.js';
import type { BinlogSourceOptions } from '../source/BinlogSourceOptions.js';

/**
 * How replayed keys are invalidated: the daemon's stages, minus the
 * checkpoint. `src` is unique per replay, so bus subscribers never mix its
 * seq with the daemon's.
 */
export type ReplayInvalidation = Pick<
  StageOptions,
  | 'redis'
  | 'channel'
  | 'src'
  | 'batchMaxKeys'
  | 'batchMaxDelayMs'
  | 'maxInFlightKeys'
  | 'maxKeysPerSec'
>;

/** The replay's own binlog connection: `serverId` is its replica id (never the daemon's). */
export interface ReplayerOptions extends Pick<
  BinlogSourceOptions,
  'url' | 'serverId' | 'heartbeatMs' | 'reconnect' | 'logger'
> {
  readonly rules: readonly MappingRule[];
  readonly from: BinlogPosition;
  /** The replay ends once the stream passes this position. */
  readonly to: BinlogPosition;
  /** null: dry run, keys go to `onKey` and nothing is deleted. */
  readonly invalidate: ReplayInvalidation | null;
  /** Dry run: each distinct key, once, in binlog order. */
  readonly onKey?: (key: string) => void;
  /** A TRUNCATE/DROP of a mapped table: its key space is (or, dry, would be) flushed. */
  readonly onFlush?: (patterns: readonly string[], ddl: DdlSeen) => void;
}

/** A DDL statement on a mapped table seen in the range. */
export interface DdlSeen {
  readonly kind: DdlKind;
  readonly tables: readonly TableName[];
  readonly position: BinlogPosition;
  readonly query: string;
}

export interface ReplayStats {
  /** Row, commit and DDL events read (heartbeats not counted). */
  events: number;
  rows: number;
  /** Distinct keys (dry run) or keys deleted (sink, de-duplicated per batch). */
  keys: number;
  /** Key-space flushes (TRUNCATE/DROP of a mapped table). */
  flushes: number;
  /** The last transaction boundary read. */
  position: BinlogPosition | null;
}

/** DDL kinds after which the live schema no longer describes older row events. */
const SCHEMA_CHANGES: ReadonlySet<DdlKind> = new Set<DdlKind>(['alter', 'rename', 'create']);

/**
 * Re-invalidates a binlog range: reads it with its own replica id, maps
 * rows with the daemon's KeyMapper and deletes through the daemon's
 * delivery stages (batched UNLINK + PUBLISH, rate-limited), handling TRUNCATE and
 * DROP as the daemon does. It never writes the checkpoint. The event
 * handling mirrors Invalidator.onEvent and SchemaPolicy.onDdl; it differs only where a
 * replay must: no checkpoint, no schema re-check (see schemaChanges).
 */
export class Replayer {
  private readonly log: Logger;
  private readonly mapper: KeyMapper;
  /** The daemon's delivery stages without a checkpoint writer; null for a dry run. */
  private readonly stages: Stages | null;
  private readonly seen = new Set<string>();
  private source: BinlogSource | null = null;
  /** Ends the current stream early (stop()). */
  private stopRequested: (() => void) | null = null;
  readonly stats: ReplayStats = { events: 0, rows: 0, keys: 0, flushes: 0, position: null };

  constructor(private readonly options: ReplayerOptions) {
    this.log = options.logger.child({ component: 'replay' });
    this.mapper = new KeyMapper(options.rules);
    const inv = options.invalidate;
    this.stages =
      inv === null
        ? null
        : assembleStages({
            redis: inv.redis,
            channel: inv.channel,
            src: inv.src,
            batchMaxKeys: inv.batchMaxKeys,
            batchMaxDelayMs: inv.batchMaxDelayMs,
            maxInFlightKeys: inv.maxInFlightKeys,
            heartbeatMs: 0,
            checkpoint: null,
            ...(inv.maxKeysPerSec === undefined ? {} : { maxKeysPerSec: inv.maxKeysPerSec }),
            clock: systemClock,
            logger: options.logger,
            onBackpressure: (pause) => (pause ? this.source?.pause() : this.source?.resume()),
            onHalt: (err) => this.log.error({ code: err.code, err: err.message }, 'replay halted'),
          });
  }

  /**
   * The first ALTER/RENAME/CREATE of a mapped table between `from` and
   * `until`, or null. Without FULL row metadata the source names columns
   * from the live schema, so rows written before such a statement would be
   * mislabelled.
   */
  async firstSchemaChange(until: BinlogPosition): Promise<DdlSeen | null> {
    let found: DdlSeen | null = null;
    if (comparePositions(this.options.from, until) >= 0) return found;
    // No tables: row events are skipped at their TableMap, query events still come.
    await this.stream([], until, (ev) => {
      if (ev.type !== 'ddl' || !SCHEMA_CHANGES.has(ev.kind)) return false;
      const tables = this.mapper.mappedTables(ev.tables);
      if (tables.length === 0) return false;
      found = { kind: ev.kind, tables, position: ev.position, query: ev.query };
      return true;
    });
    return found;
  }

  /** Replays the range; resolves once the stream passed `to` and Redis acknowledged every delete. */
  async run(): Promise<ReplayStats> {
    const { from, to } = this.options;
    this.log.info(
      {
        from: formatPosition(from),
        to: formatPosition(to),
        serverId: this.options.serverId,
        dryRun: this.stages === null,
      },
      'replay starting',
    );
    try {
      if (comparePositions(from, to) < 0) {
        await this.stream(this.mapper.tables, to, (ev) => {
          this.onEvent(ev);
          return false;
        });
      }
      if (this.stages !== null) {
        await this.stages.dispatcher.drain();
        this.stats.keys = this.stages.dispatcher.stats.keys;
      }
    } finally {
      await this.stages?.dispatcher.close(4000);
    }
    this.log.info(
      { ...this.stats, position: this.stats.position && formatPosition(this.stats.position) },
      'replay finished',
    );
    return this.stats;
  }

  /** Stops reading (e.g. on SIGINT); `run` then finishes with what was read. */
  async stop(): Promise<void> {
    this.stopRequested?.();
    await this.source?.stop();
  }

  /**
   * Streams [from, until) to `onEvent` (which returns true to end early).
   * The stream ends at the first transaction boundary at or past `until`,
   * or at a server heartbeat: the server only sends one when it has nothing
   * left to send, and `until` is never past the head read before starting.
   * A transaction that straddles `until` is replayed whole; so is the first
   * transaction of the next file when `until` is the very end of a rotated
   * file (no boundary lands exactly there). Extra deletes are harmless.
   */
  private stream(
    tables: readonly TableName[],
    until: BinlogPosition,
    onEvent: (ev: Exclude<SourceEvent, { type: 'heartbeat' }>) => boolean,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (err?: SluiceError): void => {
        if (finished) return;
        finished = true;
        this.stopRequested = null;
        const source = this.source;
        void (source === null ? Promise.resolve() : source.stop()).then(() =>
          err === undefined ? resolve() : reject(err),
        );
      };
      this.stopRequested = () => finish();
      this.source = new BinlogSource(
        {
          url: this.options.url,
          serverId: this.options.serverId,
          heartbeatMs: this.options.heartbeatMs,
          reconnect: this.options.reconnect,
          tables,
          columns: this.mapper.decodeColumns(),
          logger: this.options.logger,
          stopAt: until,
        },
        {
          onEvent: (ev) => {
            if (finished) return;
            if (ev.type === 'heartbeat') {
              finish();
              return;
            }
            let done: boolean;
            try {
              done = onEvent(ev);
            } catch (err) {
              finish(
                err instanceof SluiceError
                  ? err
                  : new SluiceError('E_INTERNAL', `replay event handler failed: ${String(err)}`, {
                      cause: err,
                    }),
              );
              return;
            }
            // Only a commit or DDL is a place to stop at (not rows, nor an XA's steps).
            const at = ev.type === 'commit' || ev.type === 'ddl' ? ev.position : null;
            if (at !== null) this.stats.position = at;
            if (done || (at !== null && comparePositions(at, until) >= 0)) finish();
          },
          onFatal: (err) => finish(err),
        },
      );
      this.source.start({ kind: 'position', position: this.options.from });
    });
  }

  private onEvent(ev: Exclude<SourceEvent, { type: 'heartbeat' }>): void {
    this.stats.events++;
    switch (ev.type) {
      case 'rows': {
        this.stats.rows += ev.changes.length;
        const keys = this.mapper.keysOf(ev.changes);
        if (this.stages === null) {
          for (const key of keys) {
            if (this.seen.has(key)) continue;
            this.seen.add(key);
            this.options.onKey?.(key);
          }
          this.stats.keys = this.seen.size;
          return;
        }
        this.stages.batcher.add(keys);
        this.stats.keys = this.stages.dispatcher.stats.keys; // acknowledged so far, for progress
        return;
      }
      case 'commit':
      case 'xaEnd':
        // No batcher.commit(): a replay has no checkpoint to advance, and its
        // batches are sealed by size and delay (throughput, not latency).
        this.stages?.batcher.groupEnd();
        return;
      case 'ddl':
        this.onDdl(ev);
        return;
      case 'xaOutcome':
        // No second delete: a replay repairs history, read after the XA
        // was committed, and its keys went at the XA's XA END (above).
        return;
    }
  }

  private onDdl(ev: Extract<SourceEvent, { type: 'ddl' }>): void {
    const tables = this.mapper.mappedTables(ev.tables);
    if (tables.length === 0) return;
    const seen: DdlSeen = { kind: ev.kind, tables, position: ev.position, query: ev.query };
    if (ev.kind === 'truncate' || ev.kind === 'drop') {
      const patterns = this.mapper.patternsOf(tables);
      this.stats.flushes++;
      // A dry run only reports it (through onFlush); a real one deletes, which deserves a warning.
      this.log[this.stages === null ? 'info' : 'warn'](
        { kind: ev.kind, tables, patterns, at: formatPosition(ev.position) },
        'mapped table emptied: flushing its key space',
      );
      this.stages?.batcher.flush(patterns, false, null);
      this.options.onFlush?.(patterns, seen);
      return;
    }
    if (SCHEMA_CHANGES.has(ev.kind)) {
      this.log.info(
        { kind: ev.kind, tables, at: formatPosition(ev.position) },
        'schema change of a mapped table in the range',
      );
    }
  }
}
