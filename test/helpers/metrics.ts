import { spawnSync } from 'node:child_process';

/** GET /metrics at `base` (`http://127.0.0.1:PORT`) as text. */
export async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`${base}/metrics: HTTP ${res.status}`);
  return res.text();
}

/**
 * The value of one sample in Prometheus text: `name` with its labels exactly
 * as exposed (`sluice_verify_stale_total{window="1s",layer="l2"}`); null if absent.
 */
export function sampleValue(text: string, series: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return null;
}

/** Runs promtool (Debian's `prometheus` package; `scripts/services.sh tools` installs it). */
export function promtool(
  args: readonly string[],
  input?: string,
): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}
