/** Limits of what `PreparedXa` keeps in memory. */
export interface PreparedXaOptions {
  /** A group with more keys than this is not remembered (a large ordinary transaction costs nothing). */
  readonly maxGroupKeys: number;
  /** Keys kept for all prepared XA transactions together; over it, the oldest is forgotten. */
  readonly maxPreparedKeys: number;
}

/**
 * The keys of prepared XA transactions, to delete again at their XA COMMIT.
 * Pure: no I/O, no clock.
 *
 * The server logs an XA transaction's rows at XA PREPARE (after XA END, with
 * no XID), before XA COMMIT makes them visible. Their keys are deleted then
 * (Batcher.groupEnd), and a reader that refills one between XA PREPARE and
 * XA COMMIT caches the row as it was before: the lease (rule 2) cannot catch
 * it, the delete came first. So the keys of the rows before an XA END are
 * kept under its xid and handed back at its XA COMMIT (dropped at XA
 * ROLLBACK: nothing changed).
 *
 * Kept in memory only: a daemon that starts between an XA's PREPARE and its
 * COMMIT does not know its keys (`commit` returns null; README, known
 * limits). Memory is bounded: the current group's keys are kept while it has
 * at most maxGroupKeys (an ordinary large transaction then holds nothing), and
 * the prepared ones up to maxPreparedKeys, oldest forgotten first.
 */
export class PreparedXa {
  /** The current group's key lists (since the last commit or XA END). */
  private readonly group: Array<readonly string[]> = [];
  /** Keys in `group`; -1 once the group outgrew maxGroupKeys. */
  private groupKeys = 0;
  /** Prepared XA transactions by xid, oldest first (a Map keeps insertion order). */
  private readonly prepared = new Map<string, readonly string[]>();
  private preparedKeys = 0;

  constructor(private readonly options: PreparedXaOptions) {}

  /** Keys held for prepared XA transactions. */
  get size(): number {
    return this.preparedKeys;
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
   * A commit ended the current group. (A DDL statement needs no call: it is a
   * group of its own, with no rows, and the server commits before it.)
   */
  ended(): void {
    this.group.length = 0;
    this.groupKeys = 0;
  }

  /** XA END: the current group is XA transaction `xid`'s, prepared next. */
  prepare(xid: string): void {
    const keys = this.groupKeys >= 0 ? this.group.flat() : null;
    this.ended();
    this.forget(xid);
    // Too large to keep: its XA COMMIT finds nothing, and says so.
    if (keys === null) return;
    this.prepared.set(xid, keys);
    this.preparedKeys += keys.length;
    for (const [oldest, held] of this.prepared) {
      if (this.preparedKeys <= this.options.maxPreparedKeys) break;
      this.prepared.delete(oldest);
      this.preparedKeys -= held.length;
    }
  }

  /**
   * XA COMMIT of `xid`: the keys to delete again, now that its rows are
   * visible; null when its rows were not kept (read before this daemon
   * started, too many keys, or forgotten for newer ones).
   */
  commit(xid: string): readonly string[] | null {
    const keys = this.prepared.get(xid) ?? null;
    this.forget(xid);
    return keys;
  }

  /** XA ROLLBACK of `xid`: its rows never become visible; nothing to delete again. */
  rollback(xid: string): void {
    this.forget(xid);
  }

  private forget(xid: string): void {
    const held = this.prepared.get(xid);
    if (held === undefined) return;
    this.prepared.delete(xid);
    this.preparedKeys -= held.length;
  }
}
