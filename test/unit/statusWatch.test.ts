import { describe, expect, it } from 'vitest';
import { parseSamples, renderLine, viewOf, type WatchFrame } from '../../src/cli/statusWatch.js';
import { buildReport } from '../../src/cli/statusReport.js';

const report = buildReport({
  source: 'main',
  server: 's',
  redis: 'r',
  checkpoint: null,
  head: null,
  logs: null,
  daemon: null,
  lastError: null,
  problems: [],
  now: 0,
});
const frame = (at: number, daemon: string | null, verify: string | null): WatchFrame => ({
  at,
  report,
  fence: 3,
  daemon: daemon === null ? null : parseSamples(daemon),
  verify: verify === null ? null : parseSamples(verify),
});

describe('status --watch view', () => {
  it("rows/s and keys/s are the counters' growth between two frames", () => {
    const a = frame(
      1000,
      'sluice_daemon_rows_total 100\nsluice_daemon_keys_invalidated_total 10\n',
      null,
    );
    const b = frame(
      3000,
      '# HELP x\nsluice_daemon_rows_total 700\nsluice_daemon_keys_invalidated_total 50\nsluice_daemon_inflight_keys 4\n',
      null,
    );
    expect(viewOf(a, null)).toMatchObject({ rowsPerSec: null, keysPerSec: null, inFlight: null });
    expect(viewOf(b, a)).toMatchObject({ rowsPerSec: 300, keysPerSec: 20, inFlight: 4 });
  });

  it('consistency per window from verify: nines, checks and stale over both layers', () => {
    const v = [
      'sluice_verify_consistency_nines{window="1s"} 2.5',
      'sluice_verify_checks_total{window="1s"} 999',
      'sluice_verify_stale_total{window="1s",layer="l2"} 1',
      'sluice_verify_stale_total{window="1s",layer="api"} 2',
    ].join('\n');
    const f = frame(0, null, v);
    expect(viewOf(f, null).consistency).toEqual([
      { window: '1s', nines: 2.5, checks: 999, stale: 3 },
    ]);
    expect(renderLine(f, viewOf(f, null))).toBe(
      'at=1970-01-01T00:00:00.000Z source=main checkpoint=none head=- lag_bytes=- lag_seconds=- rows_per_sec=- keys_per_sec=- in_flight=- paused=- leader=- fencing_token=3 last_error=- consistency=1s:2.50 problems=0',
    );
  });
});
