/** Limits of what `PreparedXa` keeps in memory, and of how long it holds a checkpoint. */
export interface PreparedXaOptions {
  /** A group with more keys than this is not remembered (a large ordinary transaction costs nothing). */
  readonly maxGroupKeys: number;
  /** Keys kept for all prepared XA transactions together; over it, the oldest is forgotten. */
  readonly maxPreparedKeys: number;
  /**
   * How long, by the binlog's own clock (event timestamps), a prepared XA
   * holds the checkpoint before it (see `held`); past it, it stops holding.
   */
  readonly maxHoldMs: number;
  /** A prepared XA stopped holding the checkpoint: prepared longer than maxHoldMs. */
  readonly onHoldExpired: (xid: string, heldMs: number) => void;
}

/** One prepared XA transaction. */
interface Prepared<H> {
  readonly keys: readonly string[];
  /** The checkpoint before its rows, held while it is prepared; null: holds nothing. */
  hold: H | null;
  /** Its XA END's event time (ms). */
  readonly at: number;
}

/**
 * The keys of prepared XA transactions, to delete again at their XA COMMIT,
 * and the checkpoint they hold. Pure: no I/O, no clock (event times are
 * passed in).
 *
 * The server logs an XA transaction's rows at XA PREPARE (after XA END, with
 * no XID), before XA COMMIT makes them visible. Their keys are deleted then
 * (Batcher.groupEnd), and a reader that refills one between XA PREPARE and
 * XA COMMIT caches the row as it was before: the lease (rule 2) cannot catch
 * it, the delete came first. So the keys of the rows before an XA END are
 * kept under its xid and handed back at its XA COMMIT (dropped at XA
 * ROLLBACK: nothing changed).
 *
 * The keys are kept in memory, so a prepared XA also holds the checkpoint:
 * while it is prepared, the checkpoint written at a boundary (`boundary`) is
 * the one of the boundary before its rows, not the later one. A daemon that
 * restarts before its XA COMMIT reads its rows and its XA END again, and so
 * knows its keys again. It holds at most maxHoldMs of binlog time (a stuck
 * prepared XA must not hold the checkpoint for hours: a restart would read
 * all of it again); an XA prepared before the daemon's start point, or held
 * past that, is not deleted again after a restart (`commit` returns null;
 * README, XA transactions). Every (re)start of the stream (`restart`) drops
 * the holds: they name positions of the stream before. Memory is bounded:
 * the current group's keys are kept while it has at most maxGroupKeys (an
 * ordinary large transaction then holds nothing), and the prepared ones up
 * to maxPreparedKeys, oldest forgotten first (and then no longer held).
 *
 * `H` is the checkpoint's type (strings in the unit tests).
 */
export class PreparedXa<H> {
  /** The current group's key lists (since the last boundary or XA END). */
  private readonly group: Array<readonly string[]> = [];
  /** Keys in `group`; -1 once the group outgrew maxGroupKeys. */
  private groupKeys = 0;
  /** Prepared XA transactions by xid, oldest first (a Map keeps insertion order). */
  private readonly prepared = new Map<string, Prepared<H>>();
  private preparedKeys = 0;
  /**
   * The checkpoint of the last boundary read (or the start point): where a
   * restart reads the next group again, so the hold of the XA ended next.
   * Null before the first boundary after a start at the binlog's end or a GTID.
   */
  private last: H | null = null;
  private holding = false;

  constructor(private readonly options: PreparedXaOptions) {}

  /** Prepared XA transactions whose keys are kept. */
  get count(): number {
    return this.prepared.size;
  }

  /** Keys held for prepared XA transactions. */
  get size(): number {
    return this.preparedKeys;
  }

  /** True while the checkpoint last returned by `boundary` was a prepared XA's hold. */
  get held(): boolean {
    return this.holding;
  }

  /**
   * The stream (re)starts at `from` (null: at the binlog's end or at a GTID,
   * no boundary known yet). The holds name positions of the stream before
   * (another server's, after a source change), so they are dropped; the keys
   * stay for their XA COMMIT. An XA read again from `from` is prepared again,
   * with a hold from there.
   */
  restart(from: H | null): void {
    for (const p of this.prepared.values()) p.hold = null;
    this.holding = false;
    this.last = from;
    this.ended();
  }

  /** A row event's keys, in the current group. */
  rows(keys: readonly string[]): void {
    if (this.groupKeys < 0) return;
    this.groupKeys += keys.length;
    if (this.groupKeys > this.options.maxGroupKeys) {
      this.group.length = 0;
      this.groupKeys = -1;
      return;
    }
    this.group.push(keys);
  }

  /**
   * A transaction boundary (a commit, or a DDL statement: a group of its own)
   * at event time `now`, whose checkpoint is `cp`. The current group ends; a
   * restart would read on from `cp`. Returns the checkpoint to write: the
   * hold of the oldest prepared XA still holding, else `cp`. An XA prepared
   * more than maxHoldMs before `now` stops holding (onHoldExpired).
   */
  boundary(cp: H, now: number): H {
    this.ended();
    this.last = cp;
    const hold = this.prepared.size === 0 ? null : this.oldestHold(now);
    this.holding = hold !== null;
    return hold ?? cp;
  }

  /**
   * XA END at event time `at`: the current group is XA transaction `xid`'s,
   * prepared next; it holds the checkpoint of the boundary before it.
   */
  prepare(xid: string, at: number): void {
    const keys = this.groupKeys >= 0 ? this.group.flat() : null;
    this.ended();
    this.forget(xid);
    // Too large to keep: its XA COMMIT finds nothing, and says so. Reading
    // it again after a restart would not help either: it holds nothing.
    if (keys === null) return;
    this.prepared.set(xid, { keys, hold: this.last, at });
    this.preparedKeys += keys.length;
    for (const oldest of this.prepared.keys()) {
      if (this.preparedKeys <= this.options.maxPreparedKeys) break;
      this.forget(oldest);
    }
  }

  /**
   * XA COMMIT of `xid`: the keys to delete again, now that its rows are
   * visible; null when its rows were not kept (read before this daemon
   * started, too many keys, or forgotten for newer ones).
   */
  commit(xid: string): readonly string[] | null {
    const keys = this.prepared.get(xid)?.keys ?? null;
    this.forget(xid);
    return keys;
  }

  /** XA ROLLBACK of `xid`: its rows never become visible; nothing to delete again. */
  rollback(xid: string): void {
    this.forget(xid);
  }

  private ended(): void {
    this.group.length = 0;
    this.groupKeys = 0;
  }

  private oldestHold(now: number): H | null {
    for (const [xid, p] of this.prepared) {
      if (p.hold === null) continue;
      const heldMs = now - p.at;
      if (heldMs <= this.options.maxHoldMs) return p.hold;
      p.hold = null;
      this.options.onHoldExpired(xid, heldMs);
    }
    return null;
  }

  private forget(xid: string): void {
    const p = this.prepared.get(xid);
    if (p === undefined) return;
    this.prepared.delete(xid);
    this.preparedKeys -= p.keys.length;
  }
}
