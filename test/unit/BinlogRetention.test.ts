import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/infra/clock.js';
import { position } from '../../src/pipeline/position.js';
import { BinlogRetentionWatch, retentionOf } from '../../src/source-admin/BinlogRetention.js';

const logs = [
  { file: 'binlog.000007', size: 1000 },
  { file: 'binlog.000008', size: 2000 },
  { file: 'binlog.000009', size: 300 },
];

describe('retentionOf', () => {
  it('counts the files kept before the checkpoint and the bytes to the head', () => {
    expect(
      retentionOf(logs, position('binlog.000008', 1500), position('binlog.000009', 300)),
    ).toEqual({ files: 3, marginFiles: 1, lagBytes: 800 });
    expect(retentionOf(logs, position('binlog.000007', 4), position('binlog.000009', 300))).toEqual(
      {
        files: 3,
        marginFiles: 0,
        lagBytes: 996 + 2000 + 300,
      },
    );
  });

  it('is −1 when the checkpoint is gone, absent, or the head unknown', () => {
    expect(retentionOf(logs, position('binlog.000006', 4), position('binlog.000009', 1))).toEqual({
      files: 3,
      marginFiles: -1,
      lagBytes: -1,
    });
    expect(retentionOf(logs, null, null)).toEqual({ files: 3, marginFiles: -1, lagBytes: -1 });
    // Either end unknown on its own: no lag, and nothing read from the missing position.
    expect(retentionOf(logs, null, position('binlog.000009', 1))).toEqual({
      files: 3,
      marginFiles: -1,
      lagBytes: -1,
    });
    expect(retentionOf(logs, position('binlog.000008', 4), null)).toEqual({
      files: 3,
      marginFiles: 1,
      lagBytes: -1,
    });
  });
});

describe('BinlogRetentionWatch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('polls every interval, keeps the last figures through a failed poll, and exposes them', async () => {
    let checkpoint = position('binlog.000008', 1000);
    let fail = false;
    const errors: string[] = [];
    const watch = new BinlogRetentionWatch(
      {
        binaryLogs: () => (fail ? Promise.reject(new Error('gone')) : Promise.resolve(logs)),
        head: () => Promise.resolve(position('binlog.000009', 300)),
        checkpoint: () => Promise.resolve(checkpoint),
      },
      { clock: systemClock, intervalMs: 10_000, onError: (e) => errors.push(e.message) },
    );
    const registry = new Registry();
    watch.register(registry);
    expect(await registry.getSingleMetricAsString('sluice_source_lag_bytes')).toMatch(/ -1$/m);
    watch.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(watch.current).toEqual({ files: 3, marginFiles: 1, lagBytes: 1300 });
    checkpoint = position('binlog.000009', 100);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(watch.current?.lagBytes).toBe(1300);
    await vi.advanceTimersByTimeAsync(1);
    expect(watch.current).toEqual({ files: 3, marginFiles: 2, lagBytes: 200 });
    fail = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(errors).toEqual(['gone']);
    expect(watch.current).toEqual({ files: 3, marginFiles: 2, lagBytes: 200 });
    const text = await registry.metrics();
    expect(text).toMatch(/^sluice_source_binlog_files 3$/m);
    expect(text).toMatch(/^sluice_source_checkpoint_margin_files 2$/m);
    expect(text).toMatch(/^sluice_source_lag_bytes 200$/m);
    await watch.stop();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(errors).toHaveLength(1);
  });

  it('a failed poll without an onError handler keeps the last figures and does not reject', async () => {
    let fail = false;
    const watch = new BinlogRetentionWatch(
      {
        binaryLogs: () => (fail ? Promise.reject(new Error('gone')) : Promise.resolve(logs)),
        head: () => Promise.resolve(position('binlog.000009', 300)),
        checkpoint: () => Promise.resolve(position('binlog.000008', 1000)),
      },
      { clock: systemClock, intervalMs: 10_000 },
    );
    await watch.poll();
    fail = true;
    await expect(watch.poll()).resolves.toBeUndefined();
    expect(watch.current).toEqual({ files: 3, marginFiles: 1, lagBytes: 1300 });
  });
});
