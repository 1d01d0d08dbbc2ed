import type { Clock, Timer } from '../../infra/clock.js';
import { encodeCheckpoint, type Checkpoint } from './Checkpoint.js';

/** One checkpoint write, ready for a transport (see checkpointCommand). */
export interface CheckpointWrite {
  readonly checkpoint: Checkpoint;
  readonly key: string;
  readonly json: string;
  /** The fencing counter and this leader's token, or null (replay-free single instance tests). */
  readonly fence: { readonly key: string; readonly token: number } | null;
  /**
   * The Redis primary and dataset (`run_id:replid`, PrimaryWatch) whose
   * acknowledgements this checkpoint stands on, fixed when the write is
   * built: another primary refuses it. Null: not checked.
   */
  readonly primary: string | null;
}

export interface CheckpointWriterOptions {
  /** The checkpoint key (RedisKeys.checkpoint). */
  readonly key: string;
  /** High availability: writes carry the leader's current token (see LeaderLease). */
  readonly fence?: { readonly key: string; readonly token: () => number };
  /** The primary the acknowledgements came from (PrimaryWatch.expected); null: unchecked. */
  readonly primary?: () => string | null;
  readonly clock: Clock;
  /** The pending checkpoint waited `delayMs` with no round to carry it: send it alone. */
  readonly onDue: () => void;
  /** Coalescing period (default CHECKPOINT_DELAY_MS). */
  readonly delayMs?: number;
}

/**
 * The least time between two checkpoint writes, and how long an
 * acknowledged boundary that rounds may carry waits for one before it is
 * written on its own: under load the checkpoint costs no round trip of its
 * own and at most ~100 writes a second; when the stream goes quiet it is
 * stored at most twice this later (a restart re-reads at most that).
 */
export const CHECKPOINT_DELAY_MS = 10;

/**
 * Coalesces and fences checkpoint writes. It never decides what is safe to
 * store (the tracker does): it is offered safe boundaries and decides when
 * the newest one is written: riding at the head of the next round trip if
 * the last write is at least `delayMs` old, alone once rounds have had
 * `delayMs` to carry it and none came, at once when someone drains. Time
 * comes from the injected clock.
 */
export class CheckpointWriter {
  private pendingCp: Checkpoint | null = null;
  private storedCp: Checkpoint | null = null;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private due = false;
  private timer: Timer | null = null;
  private readonly delayMs: number;
  writes = 0;

  constructor(private readonly options: CheckpointWriterOptions) {
    this.delayMs = options.delayMs ?? CHECKPOINT_DELAY_MS;
  }

  /** The newest safe boundary not yet written. */
  get pending(): Checkpoint | null {
    return this.pendingCp;
  }

  /** The checkpoint last acknowledged by Redis (or read at start). */
  get stored(): Checkpoint | null {
    return this.storedCp;
  }

  /** The checkpoint read at start-up: what `stored` reports until the first write. */
  seed(cp: Checkpoint): void {
    this.storedCp = cp;
  }

  /** A boundary the tracker found safe; replaces any older pending one. */
  offer(cp: Checkpoint): void {
    this.pendingCp = cp;
  }

  /** Whether the pending checkpoint must go out even with nothing else to send. */
  wanted(urgent: boolean): boolean {
    return this.pendingCp !== null && (this.due || urgent);
  }

  /**
   * The write the next round trip carries, or null: the pending checkpoint
   * when it is wanted, or when the last write is at least `delayMs` old.
   */
  forRound(urgent: boolean): CheckpointWrite | null {
    const cp = this.pendingCp;
    if (cp === null) return null;
    if (!this.wanted(urgent) && this.options.clock.now() - this.lastWrite < this.delayMs) {
      return null;
    }
    const fence = this.options.fence;
    return {
      checkpoint: cp,
      key: this.options.key,
      json: encodeCheckpoint(cp),
      fence: fence === undefined ? null : { key: fence.key, token: fence.token() },
      primary: this.options.primary?.() ?? null,
    };
  }

  /** Redis acknowledged `write`. */
  written(write: CheckpointWrite): void {
    this.lastWrite = this.options.clock.now();
    this.storedCp = write.checkpoint;
    if (this.pendingCp === write.checkpoint) this.pendingCp = null;
    this.due = false;
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.writes++;
  }

  /**
   * Nothing to send: write the pending checkpoint alone if no round carries
   * it first. Rounds may carry it from `delayMs` after the last write, and
   * get `delayMs` to do so: the timer runs `delayMs`, and never ends before
   * twice that after the last write. Armed right after a write for only
   * `delayMs`, it fired just as rounds became allowed to carry the
   * checkpoint: at a few hundred transactions a second (a round every few
   * milliseconds, the batcher idle in between) most checkpoints then went in
   * a round trip of their own, 0.17 extra per transaction at 300/s
   * (docs/benchmarks.md, tenth sitting). Never longer than twice `delayMs`:
   * a clock stepped back must not hold the checkpoint (a due one is written
   * whatever the clock says). The system clock is monotonic; an injected one
   * need not be.
   */
  idle(): void {
    if (this.pendingCp === null || this.timer !== null) return;
    const sinceWrite = this.options.clock.now() - this.lastWrite;
    const wait = Math.min(2 * this.delayMs, Math.max(this.delayMs, 2 * this.delayMs - sinceWrite));
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      this.due = true;
      this.options.onDue();
    }, wait);
  }

  close(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
