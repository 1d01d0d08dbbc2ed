import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exposedMetricsText, metricTypes } from '../helpers/registries.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The Node.js process metrics prom-client registers by default (no prefix). */
const DEFAULTS_RE = /^(process|nodejs)_/;

/** What `sluice serve`, `sluice run` and `sluice verify` expose on GET /metrics. */
async function exposedMetrics(): Promise<Map<string, string>> {
  const { serve, run, verify } = await exposedMetricsText();
  return metricTypes(serve, run, verify);
}

/** The rows of the README's metrics table: `| \`name\` | type | …`. */
function documentedMetrics(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Metrics reference'));
  const table = section.slice(0, section.indexOf('\n## ', 1));
  const rows = new Map<string, string>();
  for (const m of table.matchAll(/^\| `(sluice_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)) {
    rows.set(m[1] as string, m[2] as string);
  }
  return rows;
}

describe('README metrics reference matches the registries', () => {
  it('every sluice_* metric /metrics exposes is documented with its type, and nothing else', async () => {
    const exposed = await exposedMetrics();
    const own = new Map([...exposed].filter(([name]) => !DEFAULTS_RE.test(name)));
    // Sluice's own metrics all carry the prefix.
    expect([...own.keys()].filter((n) => !n.startsWith('sluice_'))).toEqual([]);
    expect(own.size).toBeGreaterThan(0);
    const documented = documentedMetrics();
    expect(Object.fromEntries([...documented].sort())).toEqual(Object.fromEntries([...own].sort()));
  });

  it('the Node.js defaults are one documented row, and they are really exposed', async () => {
    const exposed = await exposedMetrics();
    const defaults = [...exposed.keys()].filter((n) => DEFAULTS_RE.test(n));
    expect(defaults).toContain('process_cpu_seconds_total');
    expect(defaults).toContain('nodejs_eventloop_lag_seconds');
    expect(readme).toMatch(/^\| `process_\*`, `nodejs_\*` \| process\/nodejs defaults \|/m);
  });
});
