import type { Clock } from '../infra/clock.js';
import { comparePositions, type BinlogPosition } from '../pipeline/position.js';

const POLL_MS = 100;

/**
 * Waits for the daemon's stored checkpoint to reach positions. One poll
 * loop (one checkpoint read every 100 ms) serves every waiting mismatch,
 * however many there are; it runs only while someone waits.
 */
export class CheckpointWaiter {
  private readonly waiters: {
    readonly head: BinlogPosition;
    readonly deadline: number;
    readonly resolve: (passed: boolean) => void;
  }[] = [];
  private polling = false;
  private closed = false;

  constructor(
    private readonly checkpoint: () => Promise<BinlogPosition | null>,
    private readonly clock: Clock,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** True once the checkpoint is at or past `head`; false after `timeoutMs` or on close(). */
  passes(head: BinlogPosition, timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.waiters.push({ head, deadline: this.clock.now() + timeoutMs, resolve });
      if (!this.polling) void this.poll();
    });
  }

  /** Resolves every wait with false. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      while (this.waiters.length > 0) {
        let cp: BinlogPosition | null = null;
        try {
          cp = await this.checkpoint();
        } catch (err) {
          this.onError(err as Error);
        }
        const now = this.clock.now();
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i] as (typeof this.waiters)[number];
          const passed = cp !== null && comparePositions(cp, w.head) >= 0;
          if (passed || now >= w.deadline) {
            this.waiters.splice(i, 1);
            w.resolve(passed);
          }
        }
        if (this.waiters.length > 0) await this.clock.sleep(POLL_MS);
      }
    } finally {
      this.polling = false;
    }
  }
}
