import type { Logger } from 'pino';
import type { SluiceError } from '../../errors/index.js';
import type { Checkpoint } from '../checkpoint/Checkpoint.js';
import { formatPosition, parseGtidSet, parsePosition, type BinlogPosition } from '../position.js';
import type { ServerChange, StartPoint } from '../source/BinlogSource.js';
import { describeServer } from '../ServerIdentity.js';
import { decideSourceChange } from '../sourceChangePolicy.js';

/**
 * `source.startFrom` as a start point: `end`, `gtid:SET` or `FILE:POS`;
 * null for `checkpoint` (the stored one decides). Throws E_POSITION_INVALID on a
 * malformed value. Pure.
 */
export function parseStartFrom(startFrom: string): StartPoint | null {
  if (startFrom === 'end') return { kind: 'end' };
  if (startFrom.startsWith('gtid:')) {
    return { kind: 'gtid', gtid: parseGtidSet(startFrom.slice(5), 'source.startFrom') };
  }
  if (startFrom !== 'checkpoint') {
    return { kind: 'position', position: parsePosition(startFrom, 'source.startFrom') };
  }
  return null;
}

/** The mapping facts the source policy reads (KeyMapper). */
export interface SourceMapping {
  /** Every mapped key space's globs (KeyMapper.patternsOf). */
  patternsOf(): string[];
}

export interface SourcePolicyOptions {
  readonly startFrom: string;
  readonly onPositionLost: 'fail' | 'flush';
  readonly onSourceChanged: 'fail' | 'flush';
  readonly mapper: SourceMapping;
  /** The stored checkpoint (CheckpointStore). */
  readonly checkpoints: { readonly key: string; read(): Promise<Checkpoint | null> };
  /**
   * The current delivery stages: the writer is seeded with the checkpoint
   * resumed from; flushes are queued on the batcher, in binlog order.
   */
  readonly delivery: {
    readonly writer: { seed(cp: Checkpoint): void };
    readonly batcher: {
      flush(patterns: readonly string[], flushAll: boolean, boundary: Checkpoint | null): void;
    };
  };
  /** Replaces the binlog stream with one from `from`. */
  readonly restart: (from: StartPoint) => void;
  /** True once the daemon is stopping: nothing is started any more. */
  readonly stopping: () => boolean;
  /** Stops the daemon with a coded error. */
  readonly fail: (err: SluiceError) => void;
  /** The stream followed the checkpoint to another server by GTID (stats.sourceChanges). */
  readonly followed: () => void;
  readonly log: Logger;
}

/**
 * The source policies: where to start (resolveStart), a checkpoint gone
 * from the server (onPositionLost) and another server where the
 * checkpoint's was (onSourceChanged).
 */
export class SourcePolicy {
  private started: StartPoint = { kind: 'end' };

  constructor(private readonly o: SourcePolicyOptions) {}

  /** Where streaming started, once known (the fallback of a re-stream when no checkpoint exists anywhere). */
  get startPoint(): StartPoint {
    return this.started;
  }

  /** Resolves `startFrom` (from the stored checkpoint: seeds the writer with it); it becomes the start point. */
  async resolveStart(): Promise<StartPoint> {
    this.started = await this.resolve();
    return this.started;
  }

  /** The server accepted the start point: `end` and GTID start points resolve here. */
  onConnected(at: BinlogPosition | null): void {
    // A re-stream without any stored checkpoint goes back to this position.
    if (this.started.kind !== 'position' && at !== null) {
      this.started = { kind: 'position', position: at };
    }
  }

  private async resolve(): Promise<StartPoint> {
    const configured = parseStartFrom(this.o.startFrom);
    if (configured !== null) return configured;
    const { checkpoints, log } = this.o;
    const cp = await checkpoints.read();
    if (cp === null) {
      log.info(
        { key: checkpoints.key },
        'no checkpoint stored: starting from the current end of the binlog',
      );
      return { kind: 'end' };
    }
    this.o.delivery.writer.seed(cp);
    log.info(
      { checkpoint: formatPosition(cp.position), gtid: cp.gtid },
      'resuming from checkpoint',
    );
    return { kind: 'position', position: cp.position, gtid: cp.gtid, server: cp.server };
  }

  /**
   * Policy: the checkpoint is gone from the server (E_POSITION_LOST). `fail`
   * stops; `flush` removes every mapped key space and continues from the
   * current end of the binlog.
   */
  onPositionLost(err: SluiceError): void {
    if (this.o.stopping()) return;
    if (this.o.onPositionLost !== 'flush') {
      this.o.fail(err);
      return;
    }
    const patterns = this.o.mapper.patternsOf();
    this.o.log.error(
      { code: err.code, err: err.message, patterns },
      'checkpoint lost: flushing every mapped key space and continuing from the current end (onPositionLost: flush)',
    );
    this.o.delivery.batcher.flush(patterns, true, null);
    this.o.restart({ kind: 'end' });
  }

  /**
   * Policy: the server that answers is not the one the resume position
   * belongs to (a replica promoted behind the same address, or the next of
   * several hosts). With GTIDs the new server holds, the stream follows
   * from them, and a full L1 flush tells readers that values may have been
   * read from the old primary; otherwise onSourceChanged decides (see
   * decideSourceChange). The old server's FILE:POS is never streamed.
   */
  onSourceChanged(change: ServerChange): void {
    if (this.o.stopping()) return;
    const { log } = this.o;
    const decision = decideSourceChange(change, this.o.onSourceChanged);
    const previous = describeServer(change.from.server);
    const now = describeServer(change.now.identity);
    if (decision.action === 'fail') {
      this.o.fail(decision.error);
      return;
    }
    if (decision.action === 'flush') {
      const patterns = this.o.mapper.patternsOf();
      log.error(
        { code: decision.error.code, err: decision.error.message, previous, now, patterns },
        'source server changed: flushing every mapped key space and continuing from its current end (onSourceChanged: flush)',
      );
      this.o.delivery.batcher.flush(patterns, true, null);
      this.o.restart({ kind: 'end' });
      return;
    }
    this.o.followed();
    log.warn(
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
    this.o.delivery.batcher.flush([], true, null);
    this.o.restart({ kind: 'gtid', gtid: decision.gtid });
  }
}
