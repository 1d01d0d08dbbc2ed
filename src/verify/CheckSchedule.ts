/** An invalidated key of an API resource, picked for checking. */
export interface Sample {
  readonly key: string;
  /** The API resource whose key template the key fits. */
  readonly resource: string;
  /** The value of the resource key's placeholder (the row id as key text). */
  readonly id: string;
  /** `pos` of the bus message that invalidated it (the binlog position of its batch). */
  readonly pos: string | undefined;
  /** When the monitor received that message (clock time). */
  readonly sampledAt: number;
}

/** One check that is due: `sample`, `windowMs` after its invalidation. */
export interface DueCheck {
  readonly sample: Sample;
  readonly windowMs: number;
}

/**
 * When each sample is checked: once per window, `windowMs` after it was
 * invalidated. Samples arrive in time order, so one FIFO per window is
 * ordered by due time. Bounded: a sample that would take the pending checks
 * past `maxPending` is refused (the caller counts it as dropped), so a write
 * storm cannot grow the monitor's memory. Pure: time is passed in.
 */
export class CheckSchedule {
  private readonly queues: { readonly windowMs: number; items: Sample[]; head: number }[];
  private pending = 0;

  constructor(
    windowsMs: readonly number[],
    private readonly maxPending: number,
  ) {
    this.queues = [...new Set(windowsMs)]
      .sort((a, b) => a - b)
      .map((windowMs) => ({ windowMs, items: [], head: 0 }));
  }

  /** Checks scheduled and not yet taken. */
  get size(): number {
    return this.pending;
  }

  /** Schedules one check per window; false (nothing scheduled) when that would exceed maxPending. */
  add(sample: Sample): boolean {
    if (this.pending + this.queues.length > this.maxPending) return false;
    for (const q of this.queues) q.items.push(sample);
    this.pending += this.queues.length;
    return true;
  }

  /** Removes and returns every check due at `now`, shortest window first, oldest first. */
  takeDue(now: number): DueCheck[] {
    const due: DueCheck[] = [];
    for (const q of this.queues) {
      while (q.head < q.items.length) {
        const sample = q.items[q.head] as Sample;
        if (sample.sampledAt + q.windowMs > now) break;
        due.push({ sample, windowMs: q.windowMs });
        q.head++;
      }
      // Compact once the consumed prefix dominates: O(1) amortised per item.
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
    this.pending -= due.length;
    return due;
  }

  /** When the next check falls due, or null when none is pending. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const q of this.queues) {
      const sample = q.items[q.head];
      if (sample === undefined) continue;
      const at = sample.sampledAt + q.windowMs;
      if (next === null || at < next) next = at;
    }
    return next;
  }
}
