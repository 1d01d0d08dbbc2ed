import { describe, expect, it } from 'vitest';
import { position } from '../../src/pipeline/position.js';
import {
  bytesBetween,
  compareVersions,
  parseFlavor,
  positionProblem,
} from '../../src/source-admin/ServerInfo.js';

const logs = [
  { file: 'binlog.000007', size: 1000 },
  { file: 'binlog.000008', size: 5000 },
  { file: 'binlog.000009', size: 300 },
];

describe('binlog positions against SHOW BINARY LOGS', () => {
  it('accepts a listed file at any offset up to its size', () => {
    expect(positionProblem(logs, position('binlog.000008', 4))).toBeNull();
    expect(positionProblem(logs, position('binlog.000008', 5000))).toBeNull();
  });

  it('names a purged or unknown file and the files the server has', () => {
    expect(positionProblem(logs, position('binlog.000001', 4))).toBe(
      'binlog.000001 is not on the server (purged?); it has binlog.000007 … binlog.000009',
    );
    expect(positionProblem([], position('binlog.000001', 4))).toBe(
      'binlog.000001 is not on the server (purged?); it has no binary logs',
    );
  });

  it('refuses an offset past the end of the file', () => {
    expect(positionProblem(logs, position('binlog.000009', 301))).toBe(
      'binlog.000009:301 is beyond the end of binlog.000009 (300 bytes)',
    );
  });
});

describe('bytesBetween (lag in bytes)', () => {
  it('is the offset difference within one file', () => {
    expect(
      bytesBetween(logs, position('binlog.000008', 100), position('binlog.000008', 4100)),
    ).toBe(4000);
    expect(bytesBetween(logs, position('binlog.000008', 100), position('binlog.000008', 100))).toBe(
      0,
    );
  });

  it('sums the rest of the first file, whole files between, and the head offset', () => {
    // 1000-900 in 000007, 5000 in 000008, 250 in 000009
    expect(bytesBetween(logs, position('binlog.000007', 900), position('binlog.000009', 250))).toBe(
      5350,
    );
  });

  it('is 0 when the checkpoint is ahead, null when a file is not listed', () => {
    expect(bytesBetween(logs, position('binlog.000009', 10), position('binlog.000008', 10))).toBe(
      0,
    );
    expect(bytesBetween(logs, position('binlog.000008', 10), position('binlog.000008', 5))).toBe(0);
    expect(
      bytesBetween(logs, position('binlog.000001', 10), position('binlog.000008', 5)),
    ).toBeNull();
  });
});

describe('server flavor', () => {
  it('tells MariaDB from MySQL and parses the version', () => {
    expect(parseFlavor('10.11.19-MariaDB-0+deb12u1-log')).toEqual({
      kind: 'mariadb',
      version: [10, 11, 19],
      text: '10.11.19-MariaDB-0+deb12u1-log',
    });
    expect(parseFlavor('8.4.3')).toMatchObject({ kind: 'mysql', version: [8, 4, 3] });
    expect(compareVersions([8, 0, 1], [8, 0, 0])).toBeGreaterThan(0);
    expect(compareVersions([10, 4, 99], [10, 5, 0])).toBeLessThan(0);
  });
});
