/** Order statistics and number formatting for the bench tables. */

/** The p-th percentile (0–100) by nearest rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function distribution(values: readonly number[]): Distribution {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

/** `1.23 ms` style: 2 decimals under 10, 1 under 100, none above. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

/** `312k/s`, `1.15M/s`. */
export function rate(v: number, unit = '/s'): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M${unit}`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e5 ? 0 : 1)}k${unit}`;
  return `${v.toFixed(0)}${unit}`;
}

export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(0)} MB`;
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a';
}

/** `p50/p90/p99/max` of a latency distribution in ms. */
export function pcts(d: Distribution): string {
  return [d.p50, d.p90, d.p99, d.max]
    .map((v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a'))
    .join(' / ');
}
