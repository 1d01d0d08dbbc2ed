import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/errors.js';
import {
  comparePositions,
  formatPosition,
  parseGtidSet,
  parsePosition,
  position,
} from '../../src/pipeline/position.js';
import { MYSQL84_UUID } from '../fixtures/sourceServers.js';

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
    expect(err.details).toStrictEqual({ field: 'start', value: text });
  });

  it('names the field `position` when the caller names none', () => {
    const err = thrown(() => parsePosition('binlog.000003'));
    expect(err.message).toMatch(/^position: "binlog\.000003" is not a binlog position/);
    expect(err.details).toStrictEqual({ field: 'position', value: 'binlog.000003' });
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
    expect(err.details).toStrictEqual({ field: 'gtid', value: '0-1-42; DROP' });
    const named = thrown(() => parseGtidSet('0-1', 'source.startFrom'));
    expect(named.message).toMatch(/^source\.startFrom: "0-1" is not a GTID set: /);
    expect(named.details).toStrictEqual({ field: 'source.startFrom', value: '0-1' });
  });

  it('an empty or blank set is the empty set (the caller decides whether it is allowed)', () => {
    expect(parseGtidSet('')).toBe('');
    expect(parseGtidSet('  \n ')).toBe('');
  });

  it.each([
    ['the largest domain, server id and seq', '4294967295-4294967295-18446744073709551615'],
    ['several digits in each part', '10-200-3000'],
    ["spaces around a uuid set's colons", `${MYSQL84_UUID} : 1-5 :7`],
  ])('accepts %s', (_what, set) => {
    expect(parseGtidSet(set)).toBe(set);
  });

  it.each([
    ['4294967296-1-1', 'is out of range (domain and server id are 32-bit, seq 64-bit)'],
    ['1-4294967296-1', 'is out of range (domain and server id are 32-bit, seq 64-bit)'],
    ['1-1-18446744073709551616', 'is out of range (domain and server id are 32-bit, seq 64-bit)'],
    ['0-1-42x', 'is neither a MariaDB GTID (domain-server-seq, e.g. 0-1-42)'],
    ['x0-1-42', 'is neither a MariaDB GTID (domain-server-seq, e.g. 0-1-42)'],
    [
      `${MYSQL84_UUID}ab:1-5`,
      `"${MYSQL84_UUID}ab" in "${MYSQL84_UUID}ab:1-5" is not a server uuid`,
    ],
  ])('rejects %j: %s', (set, why) => {
    const err = thrown(() => parseGtidSet(set));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toContain(`gtid: "${set}" is not a GTID set: `);
    expect(err.message).toContain(why);
  });
});
