import type { Entry } from './codec.js';

export interface TtlSettings {
  /** L2 lifetime of a value. */
  readonly ttlMs: number;
  /** Up to this share of `ttlMs` is added at random (0.1 = 10 %). */
  readonly jitter: number;
  /** L2 lifetime of a negative entry (no such row). */
  readonly negativeTtlMs: number;
}

/**
 * The L2 lifetime of an entry. Values get jitter so that keys filled together
 * (a warm-up, a batch read) do not all expire in the same instant.
 */
export class TtlPolicy {
  constructor(
    private readonly settings: TtlSettings,
    private readonly random: () => number = Math.random,
  ) {}

  /** Lifetime of `entry` in ms; `ttlMs` overrides the default base of a value. */
  forEntry(entry: Entry, ttlMs?: number): number {
    if (!entry.present) return this.settings.negativeTtlMs;
    const base = ttlMs ?? this.settings.ttlMs;
    return Math.round(base * (1 + this.random() * this.settings.jitter));
  }
}
