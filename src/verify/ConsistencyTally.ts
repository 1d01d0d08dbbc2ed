import type { Clock } from '../infra/clock.js';

/**
 * Consistency as nines: −log10((stale + 1) / (checks + 1)). The +1 on both
 * sides keeps it finite and honest about the sample: no stale entry in 1,000
 * checks reads 3.0 (the sample supports "at least 99.9 %"), one reads 2.7, and
 * nothing checked reads 0. Pure.
 */
export function nines(checks: number, stale: number): number {
  // With nothing checked this is −log10(1/1) = −0, which the max below makes 0.
  const value = -Math.log10((Math.min(stale, checks) + 1) / (checks + 1));
  return Math.max(0, Math.round(value * 1000) / 1000); // never -0
}

/** `1000` → `1s`, `1500` → `1500ms`: the `window` label of the metrics. */
export function windowLabel(windowMs: number): string {
  return windowMs % 1000 === 0 ? `${windowMs / 1000}s` : `${windowMs}ms`;
}

interface Bucket {
  /** floor(time / bucketMs) */
  index: number;
  checks: number;
  stale: number;
}

/**
 * Check outcomes per window over a sliding horizon (per-second buckets), for
 * the nines gauge: a stale entry an hour ago no longer weighs on "now", while
 * the Prometheus counters keep the full history. Time comes from the clock.
 */
export class ConsistencyTally {
  private readonly buckets = new Map<number, Bucket[]>();
  private readonly bucketMs: number;

  constructor(
    windowsMs: readonly number[],
    private readonly options: { readonly horizonMs: number; readonly clock: Clock },
  ) {
    this.bucketMs = Math.max(1, Math.min(1000, options.horizonMs));
    for (const w of windowsMs) this.buckets.set(w, []);
  }

  /** Counts one decided check of `windowMs` (stale or not) at the clock's time. */
  record(windowMs: number, stale: boolean): void {
    const list = this.buckets.get(windowMs);
    if (list === undefined) return;
    const index = Math.floor(this.options.clock.now() / this.bucketMs);
    let last = list[list.length - 1];
    if (last === undefined || last.index !== index) {
      last = { index, checks: 0, stale: 0 };
      list.push(last);
    }
    last.checks++;
    if (stale) last.stale++;
    this.expire(list);
  }

  /** Checks and stale results of `windowMs` within the horizon. */
  recent(windowMs: number): { checks: number; stale: number } {
    const list = this.buckets.get(windowMs) ?? [];
    this.expire(list);
    let checks = 0;
    let stale = 0;
    for (const b of list) {
      checks += b.checks;
      stale += b.stale;
    }
    return { checks, stale };
  }

  /** The consistency of `windowMs` within the horizon, as nines. */
  nines(windowMs: number): number {
    const { checks, stale } = this.recent(windowMs);
    return nines(checks, stale);
  }

  private expire(list: Bucket[]): void {
    const oldest = Math.floor((this.options.clock.now() - this.options.horizonMs) / this.bucketMs);
    let drop = 0;
    while (drop < list.length && (list[drop] as Bucket).index <= oldest) drop++;
    if (drop > 0) list.splice(0, drop);
  }
}
