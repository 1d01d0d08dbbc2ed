import type { Logger } from 'pino';
import type { BusPublisher } from '../bus/BusPublisher.js';
import { SluiceError } from '../errors/index.js';
import { backoffDelay, REDIS_BACKOFF } from '../infra/backoff.js';
import { systemClock, type Clock } from '../infra/clock.js';
import type { Batcher, BarrierOutcome } from './batch/Batcher.js';
import type { SourceEvent, TableName } from './change/RowChange.js';
import { checkpointOf, type Checkpoint } from './checkpoint/Checkpoint.js';
import { CheckpointStore } from './checkpoint/CheckpointStore.js';
import type { CheckpointWriter } from './checkpoint/CheckpointWriter.js';
import { identityText, PrimaryWatch, probePrimary } from './checkpoint/PrimaryWatch.js';
import { newInstanceId } from './checkpoint/StatusRecord.js';
import type { Dispatcher, DispatchStats } from './Dispatcher.js';
import {
  PRIMARY_POLL_MS,
  type InvalidatorOptions,
  type InvalidatorStats,
} from './InvalidatorOptions.js';
import { KeyMapper } from './mapping/KeyMapper.js';
import { StatusReporter } from './policies/statusReporter.js';
import {
  comparePositions,
  formatPosition,
  parseGtidSet,
  parsePosition,
  type BinlogPosition,
} from './position.js';
import { BinlogSource, type ServerChange, type StartPoint } from './source/BinlogSource.js';
import { describeServer } from './ServerIdentity.js';
import { decideSourceChange } from './sourceChangePolicy.js';
import { assembleStages } from './stages.js';

export {
  PRIMARY_POLL_MS,
  type InvalidatorOptions,
  type InvalidatorStats,
  type SecondDeleteScheduler,
} from './InvalidatorOptions.js';

/**
 * The daemon's composition root: binlog source → key mapper → batcher →
 * transport → checkpoint tracker → checkpoint writer, with the bus
 * publisher beside them (see Dispatcher for the loop that moves rounds).
 * Data flows one way; the only call back is the batcher asking the source
 * to pause or resume. It owns the policies, each a named method: where to
 * start (resolveStart), a TRUNCATE/DROP of a mapped table (onTableEmptied),
 * an ALTER/RENAME/CREATE (onSchemaChange), a checkpoint gone from the
 * server (onPositionLost), another server where the checkpoint's was
 * (onSourceChanged), a stale fencing token or a halted dispatcher
 * (onFenced, onDispatchHalted), and a Redis failover or restart that may
 * have lost acknowledged deletes (onRedisPrimaryChanged).
 */
export class Invalidator {
  private readonly log: Logger;
  private readonly mapper: KeyMapper;
  private readonly clock: Clock;
  // The delivery stages are rebuilt when Redis changed under the daemon
  // (onRedisPrimaryChanged); the publisher (seq, heartbeat) stays.
  private batcher!: Batcher;
  private writer!: CheckpointWriter;
  private dispatcher!: Dispatcher;
  private readonly publisher: BusPublisher;
  /** Counters of the dispatchers retired by re-streams (metrics never go backwards). */
  private retired: Omit<DispatchStats, 'publishes'> = {
    batches: 0,
    keys: 0,
    checkpoints: 0,
    retries: 0,
    patternKeys: 0,
  };
  private readonly checkpoints: CheckpointStore;
  private readonly watch: PrimaryWatch;
  /** Where streaming started, once known (the fallback of a re-stream when no checkpoint exists anywhere). */
  private startPoint: StartPoint = { kind: 'end' };
  private restreaming: Promise<void> | null = null;
  private restreamAgain = false;
  /** After a re-stream: announce the L1 reset once the stream is read again up to here. */
  private announceAt: BinlogPosition | null = null;
  private source: BinlogSource | null = null;
  private readonly debugRows: boolean;
  private settle!: { resolve: () => void; reject: (err: SluiceError) => void };
  private stopping: Promise<void> | null = null;
  /** Settles when the daemon stops: resolves on stop(), rejects on a fatal error. */
  readonly done: Promise<void>;
  readonly stats: InvalidatorStats = {
    rows: 0,
    transactions: 0,
    lastEventAt: 0,
    connected: false,
    sourceChanges: 0,
    redisPrimaryChanges: 0,
  };
  readonly instance: string;
  private readonly status: StatusReporter;
  /** The last transaction boundary read (formatted only when the status is written). */
  private readPosition: BinlogPosition | null = null;

  constructor(private readonly options: InvalidatorOptions) {
    this.log = options.logger.child({ component: 'pipeline' });
    this.instance = options.instance ?? newInstanceId();
    this.debugRows = this.log.isLevelEnabled('debug');
    this.mapper = new KeyMapper(options.rules);
    this.checkpoints = new CheckpointStore(options.redis, options.source.name);
    this.clock = options.clock ?? systemClock;
    this.publisher = this.assemble();
    this.status = new StatusReporter({
      redis: options.redis,
      source: options.source.name,
      instance: this.instance,
      snapshot: () => ({
        lastEventAt: this.stats.lastEventAt,
        readPosition: this.readPosition,
        checkpoint: this.writer.stored,
        server: this.serverInUse,
        connected: this.stats.connected,
        paused: this.source?.isPaused ?? false,
        seq: this.publisher.seq,
      }),
    });
    this.watch = new PrimaryWatch({
      probe: () => probePrimary(options.redis, this.checkpoints.key),
      connection: options.redis,
      pollMs: options.primaryPollMs ?? PRIMARY_POLL_MS,
      clock: this.clock,
      logger: options.logger,
      onChange: (c) =>
        this.onRedisPrimaryChanged(`${c.reason}: ${identityText(c.from)} -> ${identityText(c.to)}`),
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A fatal error is delivered through `done`; avoid an unhandled rejection
    // when the caller only awaits stop().
    this.done.catch(() => undefined);
  }

  /**
   * Builds the delivery stages (batcher → transport → tracker → writer),
   * keeping `publisher` when given; returns the publisher. Callbacks from
   * stages that a re-stream retired are ignored.
   */
  private assemble(publisher?: BusPublisher): BusPublisher {
    const { options } = this;
    const inv = options.invalidation;
    const secondDelete = options.secondDelete;
    const stages = assembleStages({
      redis: options.redis,
      channel: inv.channel,
      src: options.source.name,
      batchMaxKeys: inv.batchMaxKeys,
      batchMaxDelayMs: inv.batchMaxDelayMs,
      maxInFlightKeys: inv.maxInFlightKeys,
      heartbeatMs: inv.heartbeatMs,
      checkpoint: {
        key: this.checkpoints.key,
        ...(options.fence === undefined ? {} : { fence: options.fence }),
        primary: () => this.watch.expected,
      },
      wait: options.replicaWait ?? null,
      ...(publisher === undefined ? {} : { publisher }),
      clock: this.clock,
      logger: options.logger,
      onBackpressure: (pause) => {
        if (this.batcher === stages.batcher) this.onBackpressure(pause);
      },
      onHalt: (err) => {
        if (this.dispatcher === stages.dispatcher) this.onDispatchHalted(err);
      },
      onFenced: () => this.onFenced(),
      onPrimaryChanged: () => {
        if (this.dispatcher === stages.dispatcher) {
          this.onRedisPrimaryChanged('a checkpoint write was refused by another primary');
        }
      },
      ...(secondDelete === undefined ? {} : { onAcked: (keys) => secondDelete.schedule(keys) }),
    });
    if (stages.writer === null) {
      throw new Error('Invalidator: the stages were built without a writer');
    }
    this.batcher = stages.batcher;
    this.writer = stages.writer;
    this.dispatcher = stages.dispatcher;
    return stages.publisher;
  }

  /** The dispatch counters (batches, keys, publishes, checkpoints, retries, pattern keys). */
  get sinkStats(): DispatchStats {
    const now = this.dispatcher.stats;
    const r = this.retired;
    return {
      batches: r.batches + now.batches,
      keys: r.keys + now.keys,
      publishes: now.publishes,
      checkpoints: r.checkpoints + now.checkpoints,
      retries: r.retries + now.retries,
      patternKeys: r.patternKeys + now.patternKeys,
    };
  }

  /** Keys read but not yet acknowledged by Redis. */
  get inFlightKeys(): number {
    return this.batcher.inFlightKeys;
  }

  /** True while the binlog is paused for backpressure. */
  get paused(): boolean {
    return this.source?.isPaused ?? false;
  }

  get storedCheckpoint(): Checkpoint | null {
    return this.writer.stored;
  }

  /** The server the binlog is read from (`mariadb server_id 2 (domain 0) at db2:3306`), or null. */
  get serverInUse(): string | null {
    const server = this.source?.server;
    return server === undefined ? null : `${describeServer(server)} at ${this.source?.host ?? '?'}`;
  }

  /** Reads the checkpoint, resolves `startFrom`, and starts streaming. */
  async start(): Promise<void> {
    // The primary first: the checkpoint read next stands on its dataset.
    await this.watch.start();
    let from: StartPoint;
    try {
      from = await this.resolveStart();
    } catch (err) {
      this.watch.stop();
      throw err;
    }
    this.startPoint = from;
    this.publisher.start();
    this.startSource(from);
    this.status.start();
    if (this.restreamAgain) {
      // The primary changed while the checkpoint was being read.
      this.restreamAgain = false;
      this.onRedisPrimaryChanged('changed while starting');
    }
  }

  /** Remembers the last error for `sluice status`. */
  recordError(code: string, message: string): void {
    this.status.recordError(code, message);
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
        onConnected: (at) => {
          this.stats.connected = true;
          // `end` and GTID start points resolve here; a re-stream without
          // any stored checkpoint goes back to this position.
          if (this.startPoint.kind !== 'position' && at !== null) {
            this.startPoint = { kind: 'position', position: at };
          }
        },
        onFatal: (err) =>
          err.code === 'E_POSITION_LOST' ? this.onPositionLost(err) : this.fail(err),
        onServerChanged: (change) => this.onSourceChanged(change),
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
    this.writer.seed(cp);
    this.log.info(
      { checkpoint: formatPosition(cp.position), gtid: cp.gtid },
      'resuming from checkpoint',
    );
    return { kind: 'position', position: cp.position, gtid: cp.gtid, server: cp.server };
  }

  private onEvent(ev: SourceEvent): void {
    switch (ev.type) {
      case 'rows': {
        const keys = this.mapper.keysOf(ev.changes);
        this.stats.rows += ev.changes.length;
        this.stats.lastEventAt = ev.timestamp;
        if (this.debugRows) {
          // Per change, with its own keys: the demo and operators read these lines.
          for (const change of ev.changes) {
            const changeKeys = this.mapper.keysFor(change);
            this.log.debug({ table: ev.table, kind: change.kind, keys: changeKeys }, 'row');
          }
        }
        this.batcher.add(keys);
        return;
      }
      case 'commit':
        this.stats.transactions++;
        this.stats.lastEventAt = ev.timestamp;
        this.readPosition = ev.position;
        this.batcher.commit(checkpointOf(ev));
        this.announceRepairAt(ev.position);
        return;
      case 'ddl':
        this.stats.lastEventAt = ev.timestamp;
        this.onDdl(ev);
        this.announceRepairAt(ev.position);
        return;
      case 'heartbeat':
        // Caught up: the server had nothing newer to send.
        this.stats.lastEventAt = Date.now();
        this.announceRepairAt(null);
        return;
    }
  }

  /** Backpressure (rule 4): the batcher holds too many unacknowledged keys. */
  private onBackpressure(pause: boolean): void {
    const inFlightKeys = this.batcher.inFlightKeys;
    if (pause) {
      this.log.info({ inFlightKeys }, 'backpressure: pausing the binlog');
      this.source?.pause();
    } else {
      this.log.info({ inFlightKeys }, 'backpressure released: resuming the binlog');
      this.source?.resume();
    }
  }

  private onDdl(ev: Extract<SourceEvent, { type: 'ddl' }>): void {
    const cp = checkpointOf(ev);
    const tables = this.mapper.mappedTables(ev.tables);
    if (tables.length === 0) {
      this.batcher.commit(cp);
      return;
    }
    const patterns = [...new Set(tables.flatMap((t) => this.mapper.patterns(t)))];
    if (ev.kind === 'truncate' || ev.kind === 'drop')
      this.onTableEmptied(ev.kind, tables, patterns, cp);
    else if (ev.kind === 'alter' || ev.kind === 'rename' || ev.kind === 'create') {
      this.onSchemaChange(tables, patterns, ev.query, cp);
    } else this.batcher.commit(cp);
  }

  /** Policy: a TRUNCATE/DROP of a mapped table removes its whole key space, in binlog order. */
  private onTableEmptied(
    kind: string,
    tables: readonly TableName[],
    patterns: readonly string[],
    cp: Checkpoint,
  ): void {
    this.log.warn({ kind, tables, patterns }, 'mapped table emptied: flushing its key space');
    this.batcher.flush(patterns, false, cp);
  }

  /**
   * Policy: after an ALTER/RENAME/CREATE of a mapped table the templates are
   * checked against the table as it is now, in binlog order: the checkpoint
   * cannot pass the statement before the check is done.
   */
  private onSchemaChange(
    tables: readonly TableName[],
    patterns: readonly string[],
    query: string,
    cp: Checkpoint,
  ): void {
    this.batcher.barrier(() => this.recheckSchema(tables, patterns, query), cp);
  }

  /** The schema check behind onSchemaChange; onSchemaMismatch decides fail or flush. */
  private async recheckSchema(
    tables: readonly TableName[],
    patterns: readonly string[],
    query: string,
  ): Promise<BarrierOutcome> {
    const missing: string[] = [];
    for (const table of tables) {
      const dot = table.indexOf('.');
      const columns = await this.options.columns(table.slice(0, dot), table.slice(dot + 1));
      const have = new Set(columns ?? []);
      for (const col of this.mapper.columns(table)) {
        if (!have.has(col)) missing.push(`${table}.${col}`);
      }
    }
    if (missing.length === 0) return { action: 'pass' };
    const policy = this.options.source.onSchemaMismatch;
    const err = new SluiceError(
      'E_SCHEMA_MISMATCH',
      `key templates need columns that no longer exist: ${missing.join(', ')} (after: ${query.slice(0, 200)})`,
      { details: { missing, policy } },
    );
    if (policy === 'fail') {
      // The dispatcher stops at the barrier: the checkpoint never passes the ALTER.
      this.fail(err);
      return { action: 'halt' };
    }
    this.log.error(
      { code: err.code, missing, patterns },
      `${err.message}; flushing the table key space (onSchemaMismatch: flush)`,
    );
    return { action: 'flush', patterns };
  }

  /**
   * Policy: the checkpoint is gone from the server (E_POSITION_LOST). `fail`
   * stops; `flush` removes every mapped key space and continues from the
   * current end of the binlog.
   */
  private onPositionLost(err: SluiceError): void {
    if (this.stopping !== null) return;
    if (this.options.source.onPositionLost !== 'flush') {
      this.fail(err);
      return;
    }
    const patterns = this.mapper.tables.flatMap((t) => this.mapper.patterns(t));
    this.log.error(
      { code: err.code, err: err.message, patterns },
      'checkpoint lost: flushing every mapped key space and continuing from the current end (onPositionLost: flush)',
    );
    this.batcher.flush(patterns, true, null);
    this.startSource({ kind: 'end' });
  }

  /**
   * Policy: the server that answers is not the one the resume position
   * belongs to (a replica promoted behind the same address, or the next of
   * several hosts). With GTIDs the new server holds, the stream follows
   * from them, and a full L1 flush tells readers that values may have been
   * read from the old primary; otherwise onSourceChanged decides (see
   * decideSourceChange). The old server's FILE:POS is never streamed.
   */
  private onSourceChanged(change: ServerChange): void {
    if (this.stopping !== null) return;
    const decision = decideSourceChange(change, this.options.source.onSourceChanged ?? 'fail');
    const previous = describeServer(change.from.server);
    const now = describeServer(change.now.identity);
    if (decision.action === 'fail') {
      this.fail(decision.error);
      return;
    }
    if (decision.action === 'flush') {
      const patterns = this.mapper.tables.flatMap((t) => this.mapper.patterns(t));
      this.log.error(
        { code: decision.error.code, err: decision.error.message, previous, now, patterns },
        'source server changed: flushing every mapped key space and continuing from its current end (onSourceChanged: flush)',
      );
      this.batcher.flush(patterns, true, null);
      this.startSource({ kind: 'end' });
      return;
    }
    this.stats.sourceChanges++;
    this.log.warn(
      {
        previous,
        now,
        host: change.host,
        position: formatPosition(change.from.position),
        gtid: decision.gtid,
      },
      'source server changed: following the checkpoint there by GTID',
    );
    // In order with the keys: readers drop their L1 before the new server's changes arrive.
    this.batcher.flush([], true, null);
    this.startSource({ kind: 'gtid', gtid: decision.gtid });
  }

  /**
   * Policy: a checkpoint write was fenced off. A lone daemon whose lease
   * expired during a Redis outage re-takes it with a new token while a write
   * with the old one is in flight: if this instance still holds the lease it
   * keeps its work and retries with the current token; only when another
   * instance leads does it halt with E_FENCED.
   */
  private async onFenced(): Promise<boolean> {
    const confirm = this.options.fence?.confirm;
    if (confirm === undefined) return false;
    try {
      return await confirm();
    } catch (err) {
      // Redis went away again: retrying is safe, the fence decides next time.
      this.log.warn({ err: (err as Error).message }, 'leadership check failed; retrying the write');
      return true;
    }
  }

  /**
   * Policy: Redis answers from another primary or dataset than before (a
   * Sentinel or cluster failover, a managed endpoint that moved, a restart
   * that reloaded an older snapshot). Replication is asynchronous: the old
   * primary may have acknowledged deletes and checkpoints that the new one
   * lacks, and the in-memory position has moved past them. The new
   * primary's own checkpoint never claims a delete it lacks (replication and
   * persistence are ordered), so: stop reading, abandon the queued and
   * in-flight work (every write built from it carries the old primary's
   * identity and is refused), re-read the checkpoint stored there, and
   * re-stream the binlog from it with fresh stages. The bus sequence starts
   * over: readers take the next message for a publisher restart (L1
   * cleared, read-your-own-writes watermark started over, so no token is
   * vouched for by the old primary's acknowledgements). Once the stream is
   * back where it was, an L1 reset is announced in order (`flush: true`, no
   * patterns: nothing is deleted), so a reader that filled L1 from the new
   * primary's stale values meanwhile drops them.
   */
  private onRedisPrimaryChanged(reason: string): void {
    if (this.stopping !== null) return;
    if (this.restreaming !== null || this.source === null) {
      // Re-streaming, or still starting: once more when that is done.
      this.restreamAgain = true;
      return;
    }
    this.restreaming = this.restream(reason)
      .catch((err: unknown) => {
        this.fail(
          new SluiceError('E_INTERNAL', `re-stream failed: ${String(err)}`, { cause: err }),
        );
      })
      .finally(() => {
        this.restreaming = null;
        if (this.restreamAgain) {
          this.restreamAgain = false;
          this.onRedisPrimaryChanged('changed again while re-streaming');
        }
      });
  }

  private async restream(reason: string): Promise<void> {
    this.stats.redisPrimaryChanges++;
    const read = this.readPosition;
    this.log.warn(
      {
        code: 'E_REDIS_PRIMARY_CHANGED',
        reason,
        readPosition: read === null ? null : formatPosition(read),
      },
      'redis primary changed: re-streaming the binlog from the checkpoint stored there',
    );
    this.dispatcher.halt();
    // Readers must not trust what this run announced: their watermark and L1
    // start over with the next message (a lower seq).
    this.publisher.restart();
    const source = this.source;
    this.source = null;
    this.stats.connected = false;
    await source?.stop();
    const before = this.readPosition;
    const stored = this.writer.stored;
    const stats = this.dispatcher.stats;
    this.retired = {
      batches: this.retired.batches + stats.batches,
      keys: this.retired.keys + stats.keys,
      checkpoints: this.retired.checkpoints + stats.checkpoints,
      retries: this.retired.retries + stats.retries,
      patternKeys: this.retired.patternKeys + stats.patternKeys,
    };
    let cp: Checkpoint | null = null;
    for (let attempt = 1; ; attempt++) {
      if (this.stopping !== null) return;
      try {
        const id = await this.watch.adopt();
        cp = await this.checkpoints.read();
        this.log.info(
          {
            primary: identityText(id),
            checkpoint: cp === null ? null : formatPosition(cp.position),
          },
          'checkpoint re-read from the new primary',
        );
        break;
      } catch (err) {
        const delay = backoffDelay(attempt, REDIS_BACKOFF);
        this.log.warn(
          { code: 'E_REDIS', err: (err as Error).message, attempt, retryInMs: delay },
          're-stream: redis primary not usable yet',
        );
        await this.clock.sleep(delay);
      }
    }
    if (this.stopping !== null) return;
    if (cp === null && stored !== null) {
      // A dataset without the checkpoint (emptied, or never had one): what
      // this process last stored is the newest point the old primary's
      // deletes are known to be complete at.
      this.log.warn(
        { checkpoint: formatPosition(stored.position) },
        'no checkpoint on the new primary: re-streaming from the one this process stored last',
      );
    }
    const from = cp ?? stored;
    this.assemble(this.publisher);
    if (from !== null) this.writer.seed(from);
    const start: StartPoint =
      from === null ? this.startPoint : { kind: 'position', position: from.position };
    // Nothing to read again: announce the reset at once.
    this.announceAt =
      before !== null && (from === null || comparePositions(before, from.position) > 0)
        ? before
        : null;
    if (this.announceAt === null) this.batcher.flush([], true, null);
    this.startSource(start);
  }

  /** After a re-stream: the L1 reset goes out, in order, once `at` reached where the stream was (null: caught up). */
  private announceRepairAt(at: BinlogPosition | null): void {
    const target = this.announceAt;
    if (target === null) return;
    if (at !== null && comparePositions(at, target) < 0) return;
    this.announceAt = null;
    this.log.info({ at: at === null ? 'caught up' : formatPosition(at) }, 're-stream caught up');
    this.batcher.flush([], true, null);
  }

  /** Policy: the dispatcher stopped (a stale fencing token: another instance leads). */
  private onDispatchHalted(err: SluiceError): void {
    this.log.error({ code: err.code }, 'dispatch halted');
    this.fail(err);
  }

  /** Stops the daemon with a coded error (e.g. leadership lost); `done` rejects with it. */
  fail(err: SluiceError): void {
    if (this.stopping !== null) return;
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
      this.status.stop();
      this.watch.stop();
      await this.source?.stop();
      await this.dispatcher.close(timeoutMs);
      this.publisher.stop();
      const cp = this.writer.stored;
      this.log.info(
        {
          checkpoint: cp ? formatPosition(cp.position) : null,
          rows: this.stats.rows,
          ...this.dispatcher.stats,
        },
        'pipeline stopped',
      );
      await this.status.remove();
    })();
    return this.stopping;
  }
}
