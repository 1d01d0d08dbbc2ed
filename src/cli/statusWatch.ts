import type { Cluster, Redis } from 'ioredis';
import type { SluiceConfig } from '../config/schema.js';
import { parseListen } from '../config/schema.js';
import { closeRedis, createRedisClient } from '../infra/redis.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { ReconnectingServer } from '../source-admin/ReconnectingServer.js';
import { formatReport, readStored, reportFor, type StatusReport } from './statusReport.js';

/** One refresh of `sluice status --watch`. */
export interface WatchFrame {
  readonly at: number;
  readonly report: StatusReport;
  /** The source's fencing counter (`INCR` on every leadership), null when none. */
  readonly fence: number | null;
  /** Samples of the daemon's /metrics (`name{labels}` → value), null when unreachable or off. */
  readonly daemon: ReadonlyMap<string, number> | null;
  /** Samples of `sluice verify`'s /metrics, null when unreachable. */
  readonly verify: ReadonlyMap<string, number> | null;
}

/** What the live view shows, derived from two consecutive frames. Pure. */
export interface WatchView {
  readonly rowsPerSec: number | null;
  readonly keysPerSec: number | null;
  readonly inFlight: number | null;
  readonly consistency: readonly {
    readonly window: string;
    readonly nines: number;
    readonly checks: number;
    readonly stale: number;
  }[];
}

export function viewOf(frame: WatchFrame, prev: WatchFrame | null): WatchView {
  const rate = (name: string): number | null => {
    const now = frame.daemon?.get(name);
    const before = prev?.daemon?.get(name);
    if (now === undefined || before === undefined || prev === null) return null;
    const seconds = (frame.at - prev.at) / 1000;
    return seconds <= 0 ? null : Math.max(0, (now - before) / seconds);
  };
  const consistency: WatchView['consistency'][number][] = [];
  for (const [series, nines] of frame.verify ?? []) {
    const m = /^sluice_verify_consistency_nines\{window="([^"]+)"\}$/.exec(series);
    if (m === null) continue;
    const window = m[1] as string;
    const stale = ['l2', 'api']
      .map(
        (l) => frame.verify?.get(`sluice_verify_stale_total{window="${window}",layer="${l}"}`) ?? 0,
      )
      .reduce((a, b) => a + b, 0);
    const checks = frame.verify?.get(`sluice_verify_checks_total{window="${window}"}`) ?? 0;
    consistency.push({ window, nines, checks, stale });
  }
  return {
    rowsPerSec: rate('sluice_daemon_rows_total'),
    keysPerSec: rate('sluice_daemon_keys_invalidated_total'),
    inFlight: frame.daemon?.get('sluice_daemon_inflight_keys') ?? null,
    consistency,
  };
}

const num = (n: number | null, digits = 0): string => (n === null ? '…' : n.toFixed(digits));

/** The terminal screen: the `sluice status` lines plus throughput, in-flight, token, consistency. Pure. */
export function renderScreen(frame: WatchFrame, view: WatchView): string[] {
  const r = frame.report;
  const lines = formatReport(r);
  const at = lines.findIndex((l) => l.startsWith('daemon'));
  const extra = [
    `throughput  ${frame.daemon === null ? 'unknown (daemon metrics not reachable)' : `${num(view.rowsPerSec)} rows/s, ${num(view.keysPerSec)} keys/s`}`,
    `in flight   ${view.inFlight === null ? 'unknown' : `${view.inFlight} keys`}, ${r.daemon.leader?.paused === true ? 'paused (backpressure)' : 'not paused'}`,
    `leader      ${r.daemon.leader === null ? 'none' : r.daemon.leader.instance}, fencing token ${frame.fence ?? 'none'}`,
  ];
  lines.splice(at < 0 ? lines.length : at + 1, 0, ...extra);
  const problemsAt = lines.findIndex((l) => l.startsWith('problem'));
  lines.splice(
    problemsAt < 0 ? lines.length : problemsAt,
    0,
    `consistency ${consistencyText(frame, view)}`,
  );
  return [
    `sluice status --watch  ${new Date(frame.at).toISOString()}  (every 1 s; Ctrl-C quits)`,
    '',
    ...lines,
  ];
}

function consistencyText(frame: WatchFrame, view: WatchView): string {
  if (frame.verify === null) return 'unknown (sluice verify not reachable)';
  if (view.consistency.length === 0) return 'no windows reported';
  return view.consistency
    .map((c) => `${c.window}: ${c.nines.toFixed(2)} nines (${c.stale} stale / ${c.checks} checks)`)
    .join(', ');
}

/** One logfmt line per refresh, for pipes and logs. Pure. */
export function renderLine(frame: WatchFrame, view: WatchView): string {
  const r = frame.report;
  const cp = r.checkpoint === null ? 'none' : `${r.checkpoint.file}:${r.checkpoint.pos}`;
  const fields: [string, string | number | boolean | null][] = [
    ['at', new Date(frame.at).toISOString()],
    ['source', r.source],
    ['checkpoint', cp],
    ['head', r.head],
    ['lag_bytes', r.lag.bytes],
    ['lag_seconds', r.lag.seconds],
    ['rows_per_sec', view.rowsPerSec === null ? null : Math.round(view.rowsPerSec)],
    ['keys_per_sec', view.keysPerSec === null ? null : Math.round(view.keysPerSec)],
    ['in_flight', view.inFlight],
    ['paused', r.daemon.leader?.paused ?? null],
    ['leader', r.daemon.leader?.instance ?? null],
    ['fencing_token', frame.fence],
    ['last_error', r.lastError === null ? null : r.lastError.code],
    [
      'consistency',
      frame.verify === null
        ? null
        : view.consistency.map((c) => `${c.window}:${c.nines.toFixed(2)}`).join(','),
    ],
    ['problems', r.problems.length],
  ];
  return fields
    .map(
      ([k, v]) =>
        `${k}=${v === null || v === '' ? '-' : /[\s"]/.test(String(v)) ? JSON.stringify(String(v)) : String(v)}`,
    )
    .join(' ');
}

/** `name{labels} value` lines of Prometheus text, as a map. */
export function parseSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space > 0) out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** `http://HOST:PORT` of a listen address (a wildcard host is reached on loopback). */
function urlOf(listen: string | undefined): string | null {
  const l = listen === undefined ? null : parseListen(listen);
  if (l === null) return null;
  const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${l.port}`;
}

/**
 * Collects frames for the live view over long-lived connections (Redis,
 * the source server, the daemon's and verify's /metrics).
 */
export class StatusWatcher {
  private readonly redis: Redis | Cluster;
  private readonly server: ReconnectingServer;
  private readonly daemonUrl: string | null;
  private readonly verifyUrl: string | null;

  constructor(
    private readonly config: SluiceConfig,
    urls: { daemon?: string; verify?: string },
  ) {
    this.redis = createRedisClient(config.redis, 'status', { maxRetriesPerRequest: 0 });
    this.redis.on('error', () => undefined); // reported as a problem of the frame
    this.server = new ReconnectingServer(config.source.url);
    this.daemonUrl = urls.daemon ?? urlOf(config.metrics.listen);
    this.verifyUrl = urls.verify ?? urlOf(config.verify.listen);
  }

  async frame(): Promise<WatchFrame> {
    const { config } = this;
    const problems: string[] = [];
    const [server, stored, fence, daemon, verify] = await Promise.all([
      this.server
        .call(async (s) => ({ head: await s.head(), logs: await s.binaryLogs() }))
        .catch((err: unknown) => {
          problems.push(`source: ${(err as Error).message}`);
          return null;
        }),
      readStored(this.redis, config.source.name).catch((err: unknown) => {
        problems.push(`redis: ${(err as Error).message}`);
        return null;
      }),
      this.redis
        .get(RedisKeys.fence(config.source.name))
        .then((v) => (v === null ? null : Number(v)))
        .catch(() => null),
      this.scrape(this.daemonUrl),
      this.scrape(this.verifyUrl),
    ]);
    const at = Date.now();
    const report = reportFor(config, { server, stored, problems, now: at });
    return { at, report, fence, daemon, verify };
  }

  private async scrape(url: string | null): Promise<Map<string, number> | null> {
    if (url === null) return null;
    const token = this.config.api.token;
    try {
      const res = await fetch(`${url}/metrics`, {
        signal: AbortSignal.timeout(800),
        ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      });
      return res.ok ? parseSamples(await res.text()) : null;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    await this.server.close();
    await closeRedis(this.redis);
  }
}
