import type { Checkpoint } from './Checkpoint.js';

/**
 * Decides the checkpoint (rule 1), and nothing else. Pure.
 *
 * Items are registered in binlog order as they are sent, each with the
 * transaction boundary it closes (or none); acknowledgements may come in any
 * order. `acked` returns the newest boundary such that it and every item
 * before it are acknowledged: the only position that is safe to store. This
 * is maxwell's `InflightMessageList`: the sink reports acks, the tracker
 * alone decides what the checkpoint may claim.
 */
export class CheckpointTracker {
  /**
   * Registered, not yet released items by id. A Map iterates in insertion
   * order, which is binlog order: its first entry is the oldest item.
   */
  private readonly inflight = new Map<number, { boundary: Checkpoint | null; acked: boolean }>();
  private lastId = Number.NEGATIVE_INFINITY;

  /** Registers an item about to be sent; ids must increase. */
  sent(id: number, boundary: Checkpoint | null): void {
    if (id <= this.lastId) {
      throw new Error(`CheckpointTracker.sent: id ${id} is not after ${this.lastId}`);
    }
    this.lastId = id;
    this.inflight.set(id, { boundary, acked: false });
  }

  /**
   * Marks `id` acknowledged. Returns the newest boundary now safe to store
   * (every item up to it acknowledged), or null if that did not move.
   */
  acked(id: number): Checkpoint | null {
    const entry = this.inflight.get(id);
    if (entry === undefined) throw new Error(`CheckpointTracker.acked: unknown item ${id}`);
    entry.acked = true;
    let safe: Checkpoint | null = null;
    // Release the acknowledged run at the front (deleting the entry being
    // visited is safe while iterating a Map).
    for (const [first, item] of this.inflight) {
      if (!item.acked) break;
      if (item.boundary !== null) safe = item.boundary;
      this.inflight.delete(first);
    }
    return safe;
  }

  /** Items registered and not yet released. */
  get pending(): number {
    return this.inflight.size;
  }
}
