import { globToRegExp } from '../keys/glob.js';

/** One in-flight L1 fill; `stale` turns true if an invalidation of its key arrives. */
export interface Fill {
  readonly key: string;
  stale: boolean;
}

/**
 * Tracks L1 fills in progress so that a fill which began before an
 * invalidation of the same key arrived is discarded instead of stored
 * (rule 3). With single-flight there is at most one fill per key.
 */
export class FillTracker {
  private readonly fills = new Map<string, Fill>();

  /** Fills in progress. */
  get size(): number {
    return this.fills.size;
  }

  begin(key: string): Fill {
    const fill: Fill = { key, stale: false };
    this.fills.set(key, fill);
    return fill;
  }

  end(fill: Fill): void {
    if (this.fills.get(fill.key) === fill) this.fills.delete(fill.key);
  }

  invalidateKeys(keys: Iterable<string>): void {
    if (this.fills.size === 0) return;
    for (const key of keys) {
      const fill = this.fills.get(key);
      if (fill) fill.stale = true;
    }
  }

  invalidatePattern(glob: string): void {
    if (this.fills.size === 0) return;
    const re = globToRegExp(glob);
    for (const fill of this.fills.values()) if (re.test(fill.key)) fill.stale = true;
  }

  invalidateAll(): void {
    for (const fill of this.fills.values()) fill.stale = true;
  }
}
