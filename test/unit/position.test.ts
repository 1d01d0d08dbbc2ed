import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/errors.js';
import {
  comparePositions,
  formatPosition,
  parseGtidSet,
  parsePosition,
  position,
} from '../../src/pipeline/position.js';

describe('binlog positions', () => {
  it.each(['binlog.000003:1234', 'mysql-bin.000001:4', 'host-bin.123456:999999999999'])(
    'round-trips %s',
    (text) => {
      expect(formatPosition(parsePosition(text))).toBe(text);
    },
  );

  it('parses into a frozen value', () => {
    const p = parsePosition(' binlog.000003:1234 ');
    expect(p).toEqual({ file: 'binlog.000003', pos: 1234 });
    expect(Object.isFrozen(p)).toBe(true);
  });

  it.each([
    ['', 'start: "" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234'],
    [
      'binlog.000003',
      'start: "binlog.000003" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234',
    ],
    [
      'binlog.000003:',
      'start: "binlog.000003:" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234',
    ],
    [
      'binlog.000003:-5',
      'start: "binlog.000003:-5" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234',
    ],
    [
      'binlog.000003:12x',
      'start: "binlog.000003:12x" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234',
    ],
    [
      '../etc/passwd:10',
      'start: "../etc/passwd:10" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234',
    ],
    ['binlog.000003:3', 'start: offset 3 is before the first event (4)'],
  ])('rejects %j with E_POSITION_INVALID', (text, message) => {
    const err = thrown(() => parsePosition(text, 'start'));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(message);
  });

  it('orders by file sequence, then offset', () => {
    const a = position('binlog.000009', 99999);
    const b = position('binlog.000010', 4);
    expect(comparePositions(a, b)).toBeLessThan(0);
    expect(comparePositions(b, a)).toBeGreaterThan(0);
    expect(comparePositions(position('binlog.000010', 100), position('binlog.000010', 200))).toBe(
      -100,
    );
    expect(comparePositions(b, position('binlog.000010', 4))).toBe(0);
    expect(
      comparePositions(position('binlog.999999', 4), position('binlog.1000000', 4)),
    ).toBeLessThan(0);
  });

  it('parses GTID sets and rejects garbage', () => {
    expect(parseGtidSet(' 0-1-42,1-2-7 ')).toBe('0-1-42,1-2-7');
    expect(parseGtidSet('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5')).toBe(
      '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5',
    );
    const err = thrown(() => parseGtidSet('0-1-42; DROP', 'gtid'));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toBe('gtid: "0-1-42; DROP" is not a GTID set');
  });
});
