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
  /** Registered, not yet released items, oldest first. */
  private readonly inflight: Array<{ id: number; boundary: Checkpoint | null; acked: boolean }> =
    [];
  private head = 0;

  /** Registers an item about to be sent; ids must increase. */
  sent(id: number, boundary: Checkpoint | null): void {
    const last = this.inflight[this.inflight.length - 1];
    if (last !== undefined && id <= last.id) {
      throw new Error(`CheckpointTracker.sent: id ${id} is not after ${last.id}`);
    }
    this.inflight.push({ id, boundary, acked: false });
  }

  /**
   * Marks `id` acknowledged. Returns the newest boundary now safe to store
   * (every item up to it acknowledged), or null if that did not move.
   */
  acked(id: number): Checkpoint | null {
    const entry = this.inflight.find((e, i) => i >= this.head && e.id === id);
    if (entry === undefined) throw new Error(`CheckpointTracker.acked: unknown item ${id}`);
    entry.acked = true;
    let safe: Checkpoint | null = null;
    while (this.head < this.inflight.length) {
      const first = this.inflight[this.head] as { boundary: Checkpoint | null; acked: boolean };
      if (!first.acked) break;
      if (first.boundary !== null) safe = first.boundary;
      this.head++;
    }
    // Drop released entries now and then, not on every ack.
    if (this.head > 1024 && this.head * 2 > this.inflight.length) {
      this.inflight.splice(0, this.head);
      this.head = 0;
    }
    return safe;
  }

  /** Items registered and not yet released. */
  get pending(): number {
    return this.inflight.length - this.head;
  }
}
