import { describe, expect, it } from 'vitest';
import { progressOf, renderBar } from '../../src/cli/replayProgress.js';
import { position } from '../../src/pipeline/position.js';

const range = {
  logs: [
    { file: 'binlog.000001', size: 1000 },
    { file: 'binlog.000002', size: 3000 },
  ],
  from: position('binlog.000001', 500),
  to: position('binlog.000002', 2500),
};

describe('replay progress', () => {
  it('bytes done across files, rates since the start, ETA at the byte rate so far', () => {
    const p = progressOf(
      { rows: 600, keys: 1200, position: position('binlog.000002', 500) },
      range,
      2000,
    );
    expect(p).toEqual({
      type: 'progress',
      position: 'binlog.000002:500',
      doneBytes: 1000,
      totalBytes: 3000,
      percent: 33.3,
      rows: 600,
      keys: 1200,
      rowsPerSec: 300,
      keysPerSec: 600,
      etaSeconds: 4,
    });
    expect(renderBar(p)).toBe(
      '[##########--------------------]  33.3%  binlog.000002:500  300 rows/s  600 keys/s  ETA 0:04',
    );
  });

  it('nothing read yet: no ETA; finished: the whole range', () => {
    const start = progressOf({ rows: 0, keys: 0, position: null }, range, 10);
    expect(start).toMatchObject({
      doneBytes: 0,
      percent: 0,
      etaSeconds: null,
      position: 'binlog.000001:500',
    });
    expect(renderBar(start)).toMatch(/ETA \?$/);
    const done = progressOf(
      { rows: 9, keys: 9, position: position('binlog.000002', 2400) },
      range,
      3_725_000,
      true,
    );
    expect(done).toMatchObject({
      doneBytes: 3000,
      percent: 100,
      etaSeconds: 0,
      position: 'binlog.000002:2500',
    });
    expect(renderBar({ ...done, etaSeconds: 3725 })).toMatch(/\[#{30}\] 100\.0% .* ETA 1:02:05$/);
  });
});
