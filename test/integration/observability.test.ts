import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../helpers/cli.js';
import { promtool } from '../helpers/metrics.js';
import { exposedMetricsText, metricTypes } from '../helpers/registries.js';

/**
 * The deploy/ artifacts checked with the real tools: promtool (Debian's
 * `prometheus` package) for the alert rules, their unit tests, the
 * Prometheus configuration and the dashboard's queries; docker-compose
 * (Debian's package, no engine needed) for docker-compose.yml. Both are
 * installed by `scripts/services.sh tools` (test/globalSetup.ts).
 */
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/sluice.json');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly targets?: readonly { readonly expr: string }[];
}

function dashboardPanels(): Panel[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.filter((p) => p.type !== 'row');
}

function alertRules(): { alert: string; expr: string }[] {
  const doc = parseYaml(readFileSync(ALERTS, 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return doc.groups.flatMap((g) => g.rules);
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not
 * followed by `(` (functions, aggregations), not keywords, not inside label
 * matchers, grouping lists or strings.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) {
    const name = m[1] as string;
    if (m[2] !== undefined || KEYWORDS.has(name)) continue;
    names.add(name);
  }
  return [...names];
}

/** The series names each exposed metric contributes (a histogram: _bucket, _sum, _count). */
async function exposedSeriesNames(): Promise<Set<string>> {
  const { serve, run, verify } = await exposedMetricsText();
  const names = new Set<string>(['up']); // Prometheus's own, per scrape target
  for (const [name, type] of metricTypes(serve, run, verify)) {
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    else names.add(name);
  }
  return names;
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-obs-')), name);
  writeFileSync(path, text);
  return path;
}

describe('alert rules (deploy/prometheus/alerts.yml)', () => {
  it('pass promtool check rules', () => {
    const { code, output } = promtool(['check', 'rules', ALERTS]);
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toContain(`SUCCESS: ${alertRules().length} rules found`);
  });

  it('pass their unit tests: promtool test rules deploy/prometheus/alerts.test.yml', () => {
    const { code, output } = promtool([
      'test',
      'rules',
      join(ROOT, 'deploy/prometheus/alerts.test.yml'),
    ]);
    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringContaining('SUCCESS') as string,
    });
  });

  it('cover what the issue asks and name only metrics the registries expose', async () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert)).toEqual([
      'SluiceDaemonDown',
      'SluiceNoLeader',
      'SluiceLeaderFlapping',
      'SluiceLagHigh',
      'SluiceBinlogStalled',
      'SluiceCheckpointAtRisk',
      'SluiceConsistencyBelowObjective',
      'SluiceL1ResetsHigh',
      'SluiceRedisRetries',
      'SluiceBackpressure',
    ]);
    const exposed = await exposedSeriesNames();
    for (const rule of rules) {
      const unknown = metricNames(rule.expr).filter((n) => !exposed.has(n));
      expect({ alert: rule.alert, unknown }).toEqual({ alert: rule.alert, unknown: [] });
    }
  });

  it('the Prometheus configuration of the compose file passes promtool check config', () => {
    const { code, output } = promtool([
      'check',
      'config',
      join(ROOT, 'deploy/prometheus/prometheus.yml'),
    ]);
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toContain('SUCCESS: 1 rule files found');
  });
});

describe('Grafana dashboard (deploy/grafana/sluice.json)', () => {
  it('every PromQL expression parses (promtool check rules over them as recording rules)', () => {
    const exprs = dashboardPanels().flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(16);
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })),
        },
      ],
    };
    const file = tempFile('dashboard-rules.json', JSON.stringify(rules));
    const { code, output } = promtool(['check', 'rules', file]);
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('a broken expression is caught by that check', () => {
    const file = tempFile(
      'broken.json',
      JSON.stringify({
        groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum(rate(a[5m])' }] }],
      }),
    );
    expect(promtool(['check', 'rules', file]).code).not.toBe(0);
  });

  it('names only metrics the registries of run, serve and verify expose', async () => {
    const exposed = await exposedSeriesNames();
    const named = new Set<string>();
    for (const panel of dashboardPanels()) {
      for (const t of panel.targets ?? []) {
        const unknown = metricNames(t.expr).filter((n) => !exposed.has(n));
        expect({ panel: panel.title, unknown }).toEqual({ panel: panel.title, unknown: [] });
        for (const n of metricNames(t.expr)) named.add(n);
      }
    }
    // What the issue asks the dashboard to show.
    for (const m of [
      'sluice_daemon_lag_seconds',
      'sluice_daemon_rows_total',
      'sluice_daemon_keys_invalidated_total',
      'sluice_daemon_batches_total',
      'sluice_daemon_inflight_keys',
      'sluice_daemon_paused',
      'sluice_daemon_leading',
      'sluice_cache_hits_total',
      'sluice_cache_db_loads_total',
      'sluice_cache_l1_resets_total',
      'sluice_verify_consistency_nines',
    ]) {
      expect(named, m).toContain(m);
    }
    expect(metricNames('sum by (le) (rate(a_bucket{x="y"}[5m])) / on (i) b')).toEqual([
      'a_bucket',
      'b',
    ]);
  });
});

describe('README "Observability" describes every panel and alert', () => {
  const section = readme.slice(readme.indexOf('## Observability'));
  const body = section.slice(0, section.indexOf('\n## ', 1));

  it('names each dashboard panel and each alert', () => {
    expect(body.length).toBeGreaterThan(1000);
    for (const p of dashboardPanels()) expect(body, p.title).toContain(`**${p.title}**`);
    for (const r of alertRules()) expect(body, r.alert).toContain(`\`${r.alert}\``);
  });
});

describe('docker-compose.yml', () => {
  it('is valid for docker-compose config and runs Prometheus with the rules and Grafana with the dashboard', () => {
    const out = execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const doc = parseYaml(out) as {
      services: Record<
        string,
        { volumes?: (string | { source: string; target: string })[]; command?: string[] }
      >;
    };
    expect(Object.keys(doc.services).sort()).toEqual([
      'grafana',
      'mysql',
      'prometheus',
      'redis',
      'sluice-run',
      'sluice-serve',
      'sluice-verify',
    ]);
    const mounts = (service: string): string[] =>
      (doc.services[service]?.volumes ?? []).map((v) =>
        typeof v === 'string' ? v : `${v.source}:${v.target}`,
      );
    expect(mounts('prometheus')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/deploy\/prometheus\/alerts\.yml:\/etc\/prometheus\/alerts\.yml/),
        expect.stringMatching(
          /deploy\/prometheus\/prometheus\.yml:\/etc\/prometheus\/prometheus\.yml/,
        ),
      ]),
    );
    expect(mounts('grafana')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /deploy\/grafana\/sluice\.json:\/var\/lib\/grafana\/dashboards\/sluice\.json/,
        ),
        expect.stringMatching(/deploy\/grafana\/provisioning:\/etc\/grafana\/provisioning/),
      ]),
    );
    // The scrape targets of prometheus.yml are where the processes listen.
    expect(doc.services['sluice-run']?.command).toEqual(
      expect.arrayContaining(['--metrics-listen', '0.0.0.0:9464']),
    );
    expect(doc.services['sluice-verify']?.command).toEqual(
      expect.arrayContaining(['verify', '--listen', '0.0.0.0:9466']),
    );
    const prom = readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8');
    for (const target of ['sluice-run:9464', 'sluice-serve:8080', 'sluice-verify:9466']) {
      expect(prom).toContain(target);
    }
  });
});
