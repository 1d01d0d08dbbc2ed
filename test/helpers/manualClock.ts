import type { Clock, Timer } from '../../src/infra/clock.js';

/**
 * A clock that moves only when the test says so: `advance(ms)` runs every
 * timer due by then, in time order. Deterministic on any machine.
 */
export class ManualClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void; every: number | null }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, every: null });
    return id as unknown as Timer;
  }

  setInterval(fn: () => void, ms: number): Timer {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn, every: ms });
    return id as unknown as Timer;
  }

  clearTimeout(timer: Timer | null): void {
    if (timer !== null) this.timers.delete(timer as unknown as number);
  }

  clearInterval(timer: Timer | null): void {
    this.clearTimeout(timer);
  }

  /** Every sleep asked of this clock, in order (ms). */
  readonly sleeps: number[] = [];

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Timers armed and not yet run. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running what falls due (timers armed meanwhile too). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; every: number | null }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.t = end;
  }
}
