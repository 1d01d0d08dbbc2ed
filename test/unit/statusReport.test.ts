import { describe, expect, it } from 'vitest';
import { buildReport, formatReport } from '../../src/cli/statusReport.js';
import type { DaemonStatus } from '../../src/pipeline/checkpoint/StatusRecord.js';
import { position } from '../../src/pipeline/position.js';

const logs = [
  { file: 'binlog.000001', size: 1000 },
  { file: 'binlog.000002', size: 400 },
];
const base = {
  source: 'main',
  server: 'mysql://sluice:***@db:3306/app',
  redis: 'redis://r:6379/0',
  head: position('binlog.000002', 400),
  logs,
  lastError: null,
  problems: [],
  now: 1_000_000,
};
const daemon: DaemonStatus = {
  instance: 'h:42:abc',
  pid: 42,
  host: 'h',
  startedAt: 's',
  updatedAt: 'u',
  lastEventAt: 997_500,
  readPosition: 'binlog.000002:300',
  checkpoint: 'binlog.000002:300',
  connected: true,
  paused: false,
  seq: 7,
  lastError: null,
};

describe('status report', () => {
  it('lag across files in bytes, and in seconds from the daemon last event', () => {
    const r = buildReport({
      ...base,
      checkpoint: { position: position('binlog.000001', 900), gtid: '0-1-5', at: 'a' },
      daemon,
    });
    expect(r.lag).toEqual({ bytes: 500, seconds: 2.5 });
    expect(r.checkpoint).toEqual({ file: 'binlog.000001', pos: 900, gtid: '0-1-5', at: 'a' });
    expect(r.daemon.leader?.instance).toBe('h:42:abc');
    expect(formatReport(r)).toContain('lag         500 bytes, 2.5 s');
  });

  it('caught up is 0 bytes and 0 s; no daemon means unknown seconds', () => {
    const cp = { position: position('binlog.000002', 400), gtid: undefined, at: '' };
    expect(buildReport({ ...base, checkpoint: cp, daemon }).lag).toEqual({ bytes: 0, seconds: 0 });
    const behind = { position: position('binlog.000002', 100), gtid: undefined, at: '' };
    const r = buildReport({ ...base, checkpoint: behind, daemon: null });
    expect(r.lag).toEqual({ bytes: 300, seconds: null });
    expect(formatReport(r)).toContain('daemon      not running');
  });

  it('a purged checkpoint is a problem, reported with the rest', () => {
    const r = buildReport({
      ...base,
      checkpoint: { position: position('binlog.000000', 4), gtid: undefined, at: '' },
      daemon: null,
    });
    expect(r.lag.bytes).toBeNull();
    expect(r.problems).toEqual([
      'checkpoint binlog.000000:4: binlog.000000 is not on the server (purged?)',
    ]);
  });
});
