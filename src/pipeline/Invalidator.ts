import type { Logger } from 'pino';
import type { SluiceError } from '../errors/index.js';
import { systemClock } from '../infra/clock.js';
import { PreparedXa } from './batch/PreparedXa.js';
import type { SourceEvent } from './change/RowChange.js';
import { checkpointOf, type Checkpoint } from './checkpoint/Checkpoint.js';
import { CheckpointStore } from './checkpoint/CheckpointStore.js';
import { identityText, PrimaryWatch, probePrimary } from './checkpoint/PrimaryWatch.js';
import { newInstanceId } from './checkpoint/StatusRecord.js';
import { DeliveryStages } from './DeliveryStages.js';
import type { DispatchStats } from './Dispatcher.js';
import {
  PRIMARY_POLL_MS,
  type InvalidatorOptions,
  type InvalidatorStats,
} from './InvalidatorOptions.js';
import { KeyMapper } from './mapping/KeyMapper.js';
import { RedisPolicy } from './policies/redisPolicy.js';
import { SchemaPolicy } from './policies/schemaPolicy.js';
import { SourcePolicy } from './policies/sourcePolicy.js';
import { StatusReporter } from './policies/statusReporter.js';
import { formatPosition, type BinlogPosition } from './position.js';
import type { StartPoint } from './source/BinlogSource.js';
import { BinlogStream } from './source/BinlogStream.js';

export {
  PRIMARY_POLL_MS,
  type InvalidatorOptions,
  type InvalidatorStats,
  type SecondDeleteScheduler,
} from './InvalidatorOptions.js';

/** An XA transaction with more keys is not kept for its XA COMMIT (PreparedXa). */
const XA_MAX_GROUP_KEYS = 10_000;
/** Keys kept for all prepared XA transactions together (a few MB at most). */
const XA_MAX_PREPARED_KEYS = 100_000;
/**
 * How long (binlog time) a prepared XA holds the checkpoint before its rows,
 * so that a restart before its XA COMMIT reads them again (PreparedXa.boundary).
 * A restart reads at most this much binlog again because of it.
 */
export const XA_MAX_HOLD_MS = 60_000;

/**
 * The daemon's composition root: binlog source (BinlogStream) → key mapper
 * → batcher → transport → checkpoint tracker → checkpoint writer, with the
 * bus publisher beside them (DeliveryStages; Dispatcher moves the rounds).
 * Data flows one way; the only call back is the batcher asking the source
 * to pause or resume. The policies (src/pipeline/policies/) get only what
 * they act on: SourcePolicy (where to start, a purged checkpoint, another
 * source server), SchemaPolicy (TRUNCATE/DROP, ALTER/RENAME/CREATE of a
 * mapped table), RedisPolicy (a fenced-off write, a Redis primary change);
 * StatusReporter writes the status record; a halted dispatcher stops the
 * daemon (onDispatchHalted).
 */
export class Invalidator {
  private readonly log: Logger;
  private readonly mapper: KeyMapper;
  private readonly delivery: DeliveryStages;
  private readonly watch: PrimaryWatch;
  private readonly status: StatusReporter;
  private readonly sourcePolicy: SourcePolicy;
  private readonly schemaPolicy: SchemaPolicy;
  private readonly redisPolicy: RedisPolicy;
  private readonly stream: BinlogStream;
  private readonly debugRows: boolean;
  /** Keys of prepared XA transactions, deleted again at their XA COMMIT; each holds the checkpoint before it. */
  private readonly preparedXa = new PreparedXa<Checkpoint>({
    maxGroupKeys: XA_MAX_GROUP_KEYS,
    maxPreparedKeys: XA_MAX_PREPARED_KEYS,
    maxHoldMs: XA_MAX_HOLD_MS,
    onHoldExpired: (xid, heldMs) =>
      this.log.warn(
        { xid, heldMs },
        'XA transaction prepared for too long: the checkpoint moves past it; a restart before its XA COMMIT will not delete its keys again',
      ),
  });
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
  /** The last transaction boundary read (formatted only when the status is written). */
  private readPosition: BinlogPosition | null = null;

  constructor(private readonly options: InvalidatorOptions) {
    const log = (this.log = options.logger.child({ component: 'pipeline' }));
    this.instance = options.instance ?? newInstanceId();
    this.debugRows = log.isLevelEnabled('debug');
    const mapper = (this.mapper = new KeyMapper(options.rules));
    const checkpoints = new CheckpointStore(options.redis, options.source.name);
    const clock = options.clock ?? systemClock;
    const { fence, secondDelete } = options;
    this.delivery = new DeliveryStages({
      redis: options.redis,
      src: options.source.name,
      invalidation: options.invalidation,
      checkpoint: {
        key: checkpoints.key,
        ...(fence === undefined ? {} : { fence }),
        primary: () => this.watch.expected,
      },
      wait: options.replicaWait ?? null,
      clock,
      logger: options.logger,
      onBackpressure: (pause) => this.onBackpressure(pause),
      onHalt: (err) => this.onDispatchHalted(err),
      onFenced: () => this.redisPolicy.onFenced(),
      onPrimaryChanged: () =>
        this.redisPolicy.onRedisPrimaryChanged('a checkpoint write was refused by another primary'),
      ...(secondDelete === undefined ? {} : { onAcked: (keys) => secondDelete.schedule(keys) }),
    });
    this.watch = new PrimaryWatch({
      probe: () => probePrimary(options.redis, checkpoints.key),
      connection: options.redis,
      pollMs: options.primaryPollMs ?? PRIMARY_POLL_MS,
      clock,
      logger: options.logger,
      onChange: (c) =>
        this.redisPolicy.onRedisPrimaryChanged(
          `${c.reason}: ${identityText(c.from)} -> ${identityText(c.to)}`,
        ),
    });
    this.status = new StatusReporter({
      redis: options.redis,
      source: options.source.name,
      instance: this.instance,
      snapshot: () => ({
        lastEventAt: this.stats.lastEventAt,
        readPosition: this.readPosition,
        checkpoint: this.delivery.writer.stored,
        server: this.serverInUse,
        connected: this.stats.connected,
        paused: this.stream.paused,
        seq: this.delivery.publisher.seq,
      }),
    });
    this.stream = new BinlogStream(options.source, mapper, options.logger, {
      onEvent: (ev) => this.onEvent(ev),
      onConnected: (at) => {
        this.stats.connected = true;
        this.sourcePolicy.onConnected(at);
      },
      onFatal: (err) =>
        err.code === 'E_POSITION_LOST' ? this.sourcePolicy.onPositionLost(err) : this.fail(err),
      onServerChanged: (change) => this.sourcePolicy.onSourceChanged(change),
    });
    // What the source and Redis policies may do: stop the daemon, know it stops, restart the stream.
    const common = {
      fail: (err: SluiceError): void => this.fail(err),
      stopping: (): boolean => this.stopping !== null,
      restart: (from: StartPoint): void => this.startStream(from),
      log,
    };
    this.sourcePolicy = new SourcePolicy({
      startFrom: options.source.startFrom,
      onPositionLost: options.source.onPositionLost,
      onSourceChanged: options.source.onSourceChanged ?? 'fail',
      mapper,
      checkpoints,
      delivery: this.delivery,
      ...common,
      followed: () => void this.stats.sourceChanges++,
    });
    this.schemaPolicy = new SchemaPolicy({
      mapper,
      columns: options.columns,
      onSchemaMismatch: options.source.onSchemaMismatch,
      delivery: this.delivery,
      fail: common.fail,
      log,
    });
    this.redisPolicy = new RedisPolicy({
      confirm: fence?.confirm,
      streaming: () => this.stream.active,
      readPosition: () => this.readPosition,
      dropStream: () => {
        this.stats.connected = false;
        return this.stream.drop();
      },
      delivery: this.delivery,
      adopt: () => this.watch.adopt(),
      readCheckpoint: () => checkpoints.read(),
      startPoint: () => this.sourcePolicy.startPoint,
      patterns: () => mapper.patternsOf(),
      restreamed: () => void this.stats.redisPrimaryChanges++,
      ...common,
      clock,
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A fatal error is delivered through `done`; avoid an unhandled rejection
    // when the caller only awaits stop().
    this.done.catch(() => undefined);
  }

  /** The dispatch counters (batches, keys, publishes, checkpoints, retries, pattern keys). */
  get sinkStats(): DispatchStats {
    return this.delivery.stats;
  }

  /** Keys read but not yet acknowledged by Redis. */
  get inFlightKeys(): number {
    return this.delivery.batcher.inFlightKeys;
  }

  /** True while the binlog is paused for backpressure. */
  get paused(): boolean {
    return this.stream.paused;
  }

  /** Prepared XA transactions whose keys the daemon keeps for their XA COMMIT. */
  get preparedXaCount(): number {
    return this.preparedXa.count;
  }

  /** True while a prepared XA holds the checkpoint at the boundary before its rows. */
  get checkpointHeld(): boolean {
    return this.preparedXa.held;
  }

  get storedCheckpoint(): Checkpoint | null {
    return this.delivery.writer.stored;
  }

  /** The server the binlog is read from (`mariadb server_id 2 (domain 0) at db2:3306`), or null. */
  get serverInUse(): string | null {
    return this.stream.serverInUse;
  }

  /** Reads the checkpoint, resolves `startFrom`, and starts streaming. */
  async start(): Promise<void> {
    // The primary first: the checkpoint read next stands on its dataset.
    await this.watch.start();
    let from: StartPoint;
    try {
      from = await this.sourcePolicy.resolveStart();
    } catch (err) {
      this.watch.stop();
      throw err;
    }
    this.delivery.publisher.start();
    this.startStream(from);
    this.status.start();
    // The primary may have changed while the checkpoint was being read.
    this.redisPolicy.started();
  }

  /** Remembers the last error for `sluice status`. */
  recordError(code: string, message: string): void {
    this.status.recordError(code, message);
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
        this.delivery.batcher.add(keys);
        this.preparedXa.rows(keys);
        return;
      }
      case 'commit': {
        this.stats.transactions++;
        this.stats.lastEventAt = ev.timestamp;
        this.readPosition = ev.position;
        this.delivery.batcher.commit(this.preparedXa.boundary(checkpointOf(ev), ev.timestamp));
        this.redisPolicy.announceRepairAt(ev.position);
        return;
      }
      case 'ddl': {
        this.stats.lastEventAt = ev.timestamp;
        this.schemaPolicy.onDdl(ev, this.preparedXa.boundary(checkpointOf(ev), ev.timestamp));
        this.redisPolicy.announceRepairAt(ev.position);
        return;
      }
      case 'xaEnd':
        // Its rows follow the last boundary: a restart from there reads them again.
        this.preparedXa.prepare(ev.xid, ev.timestamp);
        this.delivery.batcher.groupEnd();
        return;
      case 'xaOutcome':
        if (ev.committed) this.xaCommitted(ev.xid);
        else this.preparedXa.rollback(ev.xid);
        return;
      case 'heartbeat':
        // Caught up: the server had nothing newer to send.
        this.stats.lastEventAt = Date.now();
        this.delivery.batcher.caughtUp();
        this.redisPolicy.announceRepairAt(null);
        return;
    }
  }

  /**
   * Every (re)start of the stream. A start at a position is a boundary: an
   * XA whose rows are read first holds the checkpoint there (PreparedXa.restart).
   */
  private startStream(from: StartPoint): void {
    this.preparedXa.restart(
      from.kind === 'position'
        ? { position: from.position, gtid: from.gtid, server: from.server }
        : null,
    );
    this.stream.start(from);
  }

  /**
   * XA COMMIT: the XA's rows are visible only now, and a reader may have
   * refilled their keys from the rows before it since its XA END deleted
   * them. They are deleted again.
   */
  private xaCommitted(xid: string): void {
    const keys = this.preparedXa.commit(xid);
    if (keys === null) {
      this.log.warn(
        { xid },
        'XA COMMIT of a transaction whose keys this daemon did not keep (prepared before it started, or too many keys): not deleted again; a read between its XA PREPARE and XA COMMIT may have cached the old rows',
      );
      return;
    }
    this.delivery.batcher.add(keys);
    this.delivery.batcher.groupEnd();
  }

  /** Backpressure (rule 4): the batcher holds too many unacknowledged keys. */
  private onBackpressure(pause: boolean): void {
    const inFlightKeys = this.delivery.batcher.inFlightKeys;
    if (pause) {
      this.log.info({ inFlightKeys }, 'backpressure: pausing the binlog');
      this.stream.pause();
    } else {
      this.log.info({ inFlightKeys }, 'backpressure released: resuming the binlog');
      this.stream.resume();
    }
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
      await this.stream.stop();
      await this.delivery.dispatcher.close(timeoutMs);
      this.delivery.publisher.stop();
      const cp = this.delivery.writer.stored;
      this.log.info(
        {
          checkpoint: cp ? formatPosition(cp.position) : null,
          rows: this.stats.rows,
          transactions: this.stats.transactions,
          ...this.delivery.dispatcher.stats,
        },
        'pipeline stopped',
      );
      await this.status.remove();
    })();
    return this.stopping;
  }
}
