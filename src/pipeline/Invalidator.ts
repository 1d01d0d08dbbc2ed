import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ColumnLookup } from '../db/schemaLookup.js';
import { SluiceError } from '../errors/index.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import type { SourceEvent } from './change/RowChange.js';
import { CheckpointStore, type Checkpoint } from './checkpoint/CheckpointStore.js';
import { hostname, newInstanceId, writeStatus } from './checkpoint/StatusRecord.js';
import { KeyMapper, type MappingRule } from './mapping/KeyMapper.js';
import { formatPosition, parseGtidSet, parsePosition, type BinlogPosition } from './position.js';
import { RedisSink } from './sink/RedisSink.js';
import { BinlogSource, type StartPoint } from './source/BinlogSource.js';

export interface InvalidatorOptions {
  readonly source: {
    readonly name: string;
    readonly url: string;
    readonly serverId: number;
    readonly startFrom: string;
    readonly onPositionLost: 'fail' | 'flush';
    readonly onSchemaMismatch: 'fail' | 'flush';
    readonly heartbeatMs: number;
    readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  };
  readonly invalidation: {
    readonly channel: string;
    readonly batchMaxKeys: number;
    readonly batchMaxDelayMs: number;
    readonly maxInFlightKeys: number;
    readonly heartbeatMs: number;
  };
  readonly rules: readonly MappingRule[];
  readonly redis: Redis | Cluster;
  readonly logger: Logger;
  /** This process's instance id (status record, leader lease). */
  readonly instance?: string;
  /** High availability: checkpoint writes are fenced with the leader's token. */
  readonly fence?: { readonly key: string; readonly token: () => number };
  /** Live column lookup, for re-checking templates after ALTER TABLE. */
  readonly columns: ColumnLookup;
  /** The delayed second delete (`invalidation.secondDeleteMs > 0`): gets every acknowledged batch. */
  readonly secondDelete?: SecondDeleteScheduler;
}

/** Schedules a second delete of keys whose first delete Redis acknowledged; must not block. */
export interface SecondDeleteScheduler {
  schedule(keys: readonly string[]): void;
}

/** Counters and times for `status`, metrics and tests. */
export interface InvalidatorStats {
  rows: number;
  transactions: number;
  lastEventAt: number;
  connected: boolean;
}

/**
 * The daemon's pipeline: binlog source → key mapper → Redis sink →
 * checkpoint. Owns the policies of the correctness rules: where to start,
 * what a TRUNCATE/DROP/ALTER of a mapped table does, and what happens when
 * the checkpoint is gone from the server.
 */
export class Invalidator {
  private readonly log: Logger;
  private readonly mapper: KeyMapper;
  private readonly sink: RedisSink;
  private readonly checkpoints: CheckpointStore;
  private source: BinlogSource | null = null;
  private readonly debugRows: boolean;
  private settle!: { resolve: () => void; reject: (err: SluiceError) => void };
  private stopping: Promise<void> | null = null;
  /** Settles when the daemon stops: resolves on stop(), rejects on a fatal error. */
  readonly done: Promise<void>;
  readonly stats: InvalidatorStats = { rows: 0, transactions: 0, lastEventAt: 0, connected: false };
  readonly instance: string;
  private readonly startedAt = new Date().toISOString();
  private statusTimer: NodeJS.Timeout | null = null;
  private lastError: { code: string; message: string; at: string } | null = null;
  /** The last transaction boundary read (formatted only when the status is written). */
  private readPosition: BinlogPosition | null = null;

  constructor(private readonly options: InvalidatorOptions) {
    this.log = options.logger.child({ component: 'pipeline' });
    this.instance = options.instance ?? newInstanceId();
    this.debugRows = this.log.isLevelEnabled('debug');
    this.mapper = new KeyMapper(options.rules);
    this.checkpoints = new CheckpointStore(options.redis, options.source.name);
    const inv = options.invalidation;
    this.sink = new RedisSink({
      redis: options.redis,
      source: options.source.name,
      channel: inv.channel,
      batchMaxKeys: inv.batchMaxKeys,
      batchMaxDelayMs: inv.batchMaxDelayMs,
      maxInFlightKeys: inv.maxInFlightKeys,
      heartbeatMs: inv.heartbeatMs,
      checkpointKey: this.checkpoints.key,
      logger: options.logger,
      onBackpressure: (pause) => (pause ? this.source?.pause() : this.source?.resume()),
      onHalt: (err) => this.onFatal(err),
      ...(options.fence === undefined ? {} : { fence: options.fence }),
      ...(options.secondDelete === undefined
        ? {}
        : { onBatchAcked: (keys) => options.secondDelete?.schedule(keys) }),
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A fatal error is delivered through `done`; avoid an unhandled rejection
    // when the caller only awaits stop().
    this.done.catch(() => undefined);
  }

  /** The sink's counters (batches, keys, publishes, checkpoints, retries). */
  get sinkStats(): RedisSink['stats'] {
    return this.sink.stats;
  }

  /** Keys read but not yet acknowledged by Redis. */
  get inFlightKeys(): number {
    return this.sink.inFlightKeys;
  }

  /** True while the binlog is paused for backpressure. */
  get paused(): boolean {
    return this.source?.isPaused ?? false;
  }

  get storedCheckpoint(): Checkpoint | null {
    return this.sink.storedCheckpoint;
  }

  /** Reads the checkpoint, resolves `startFrom`, and starts streaming. */
  async start(): Promise<void> {
    const from = await this.resolveStart();
    this.startSource(from);
    this.statusTimer = setInterval(() => void this.publishStatus(), 1000);
    this.statusTimer.unref();
    void this.publishStatus();
  }

  /** Refreshes `sluice:status:{source}` for `sluice status`; best effort. */
  private async publishStatus(): Promise<void> {
    const cp = this.sink.storedCheckpoint;
    try {
      await writeStatus(this.options.redis, this.options.source.name, {
        instance: this.instance,
        pid: process.pid,
        host: hostname(),
        startedAt: this.startedAt,
        updatedAt: new Date().toISOString(),
        lastEventAt: this.stats.lastEventAt,
        readPosition: this.readPosition === null ? null : formatPosition(this.readPosition),
        checkpoint: cp ? formatPosition(cp.position) : null,
        connected: this.stats.connected,
        paused: this.source?.isPaused ?? false,
        seq: this.sink.seq,
        lastError: this.lastError,
      });
    } catch {
      // Redis is down: the sink reports that; status is advisory.
    }
  }

  /** Remembers the last error for `sluice status`. */
  recordError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
    this.options.redis
      .set(RedisKeys.lastError(this.options.source.name), JSON.stringify(this.lastError))
      .catch(() => undefined);
  }

  private startSource(from: StartPoint): void {
    const { source } = this.options;
    this.source = new BinlogSource(
      {
        url: source.url,
        serverId: source.serverId,
        heartbeatMs: source.heartbeatMs,
        reconnect: source.reconnect,
        tables: this.mapper.tables,
        columns: this.mapper.decodeColumns(),
        logger: this.options.logger,
      },
      {
        onEvent: (ev) => this.onEvent(ev),
        onConnected: () => {
          this.stats.connected = true;
        },
        onFatal: (err) => this.onFatal(err),
      },
    );
    this.source.start(from);
  }

  private async resolveStart(): Promise<StartPoint> {
    const startFrom = this.options.source.startFrom;
    if (startFrom === 'end') return { kind: 'end' };
    if (startFrom.startsWith('gtid:')) {
      return { kind: 'gtid', gtid: parseGtidSet(startFrom.slice(5), 'source.startFrom') };
    }
    if (startFrom !== 'checkpoint') {
      return { kind: 'position', position: parsePosition(startFrom, 'source.startFrom') };
    }
    const cp = await this.checkpoints.read();
    if (cp === null) {
      this.log.info(
        { key: this.checkpoints.key },
        'no checkpoint stored: starting from the current end of the binlog',
      );
      return { kind: 'end' };
    }
    this.sink.storedCheckpoint = cp;
    this.log.info(
      { checkpoint: formatPosition(cp.position), gtid: cp.gtid },
      'resuming from checkpoint',
    );
    return { kind: 'position', position: cp.position };
  }

  private onEvent(ev: SourceEvent): void {
    switch (ev.type) {
      case 'rows': {
        const batch = this.sink.batch;
        for (const change of ev.changes) this.mapper.collect(change, batch);
        this.stats.rows += ev.changes.length;
        this.stats.lastEventAt = ev.timestamp;
        if (this.debugRows) {
          for (const change of ev.changes) {
            this.log.debug(
              { table: ev.table, kind: change.kind, keys: this.mapper.keysFor(change) },
              'row',
            );
          }
        }
        this.sink.added();
        return;
      }
      case 'commit':
        this.stats.transactions++;
        this.stats.lastEventAt = ev.timestamp;
        this.readPosition = ev.position;
        this.sink.boundary(checkpointOf(ev));
        return;
      case 'ddl':
        this.stats.lastEventAt = ev.timestamp;
        this.onDdl(ev);
        return;
      case 'heartbeat':
        // Caught up: the server had nothing newer to send.
        this.stats.lastEventAt = Date.now();
        return;
    }
  }

  private onDdl(ev: Extract<SourceEvent, { type: 'ddl' }>): void {
    const cp = checkpointOf(ev);
    const mapped = ev.tables.filter(
      (t) =>
        this.mapper.maps(t) ||
        (t.endsWith('.*') && this.mapper.tables.some((m) => m.startsWith(t.slice(0, -1)))),
    );
    if (mapped.length === 0) {
      this.sink.boundary(cp);
      return;
    }
    const tables = mapped.flatMap((t) =>
      t.endsWith('.*') ? this.mapper.tables.filter((m) => m.startsWith(t.slice(0, -1))) : [t],
    );
    const patterns = [...new Set(tables.flatMap((t) => this.mapper.patterns(t)))];
    if (ev.kind === 'truncate' || ev.kind === 'drop') {
      this.log.warn(
        { kind: ev.kind, tables, patterns },
        'mapped table emptied: flushing its key space',
      );
      this.sink.flushPatterns(patterns, false, cp);
      return;
    }
    if (ev.kind === 'alter' || ev.kind === 'rename' || ev.kind === 'create') {
      // Check the templates against the table as it is now, in binlog order:
      // the checkpoint cannot pass this statement before the check is done.
      this.sink.barrier(() => this.recheckSchema(tables, patterns, ev.query), cp);
      return;
    }
    this.sink.boundary(cp);
  }

  private async recheckSchema(
    tables: readonly string[],
    patterns: readonly string[],
    query: string,
  ): Promise<void> {
    const missing: string[] = [];
    for (const table of tables) {
      const dot = table.indexOf('.');
      const columns = await this.options.columns(table.slice(0, dot), table.slice(dot + 1));
      const have = new Set(columns ?? []);
      for (const col of this.mapper.columns(table)) {
        if (!have.has(col)) missing.push(`${table}.${col}`);
      }
    }
    if (missing.length === 0) return;
    const err = new SluiceError(
      'E_SCHEMA_MISMATCH',
      `key templates need columns that no longer exist: ${missing.join(', ')} (after: ${query.slice(0, 200)})`,
      { details: { missing, policy: this.options.source.onSchemaMismatch } },
    );
    if (this.options.source.onSchemaMismatch === 'fail') {
      this.onFatal(err);
      // Never let the checkpoint pass the ALTER: the barrier fails for good.
      throw err;
    }
    this.log.error(
      { code: err.code, missing, patterns },
      `${err.message}; flushing the table key space (onSchemaMismatch: flush)`,
    );
    this.sink.flushPatterns(patterns, false, null);
  }

  /** Stops the daemon with a coded error (e.g. leadership lost); `done` rejects with it. */
  fail(err: SluiceError): void {
    this.onFatal(err);
  }

  private onFatal(err: SluiceError): void {
    if (this.stopping !== null) return;
    if (err.code === 'E_POSITION_LOST' && this.options.source.onPositionLost === 'flush') {
      const patterns = this.mapper.tables.flatMap((t) => this.mapper.patterns(t));
      this.log.error(
        { code: err.code, err: err.message, patterns },
        'checkpoint lost: flushing every mapped key space and continuing from the current end (onPositionLost: flush)',
      );
      this.sink.flushPatterns(patterns, true, null);
      this.startSource({ kind: 'end' });
      return;
    }
    this.recordError(err.code, err.message);
    this.log.error({ code: err.code, err: err.message, details: err.details }, 'fatal: stopping');
    void this.shutdown().then(
      () => this.settle.reject(err),
      () => this.settle.reject(err),
    );
  }

  /**
   * Graceful stop: stop reading, send what was read, store the checkpoint.
   * Idempotent; `timeoutMs` bounds the wait for Redis.
   */
  async stop(timeoutMs = 4000): Promise<void> {
    await this.shutdown(timeoutMs);
    this.settle.resolve();
  }

  private shutdown(timeoutMs = 4000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.statusTimer) clearInterval(this.statusTimer);
      await this.source?.stop();
      await this.sink.close(timeoutMs);
      const cp = this.sink.storedCheckpoint;
      this.log.info(
        {
          checkpoint: cp ? formatPosition(cp.position) : null,
          rows: this.stats.rows,
          ...this.sink.stats,
        },
        'pipeline stopped',
      );
      await this.options.redis.del(RedisKeys.status(this.options.source.name)).catch(() => 0);
    })();
    return this.stopping;
  }
}

function checkpointOf(ev: { position: BinlogPosition; gtid: string | undefined }): Checkpoint {
  return { position: ev.position, gtid: ev.gtid };
}
