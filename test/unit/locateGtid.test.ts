import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import { parseGtidList, parseMariaGtidPosition } from '../../src/source-admin/locateGtid.js';

describe('MariaDB GTID positions', () => {
  it('parses one GTID per domain, with exact 64-bit sequence numbers', () => {
    expect(parseMariaGtidPosition('0-1-42, 1-2-18446744073709551615')).toEqual([
      { domain: 0, server: 1, seq: 42n },
      { domain: 1, server: 2, seq: 18446744073709551615n },
    ]);
  });

  it.each([
    ['', 'the GTID set is empty'],
    [
      '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5',
      'MySQL GTID sets cannot be turned into a binlog position',
    ],
    ['0-1-2,0-1-3', 'domain 0 appears twice'],
  ])('refuses %j', (text, message) => {
    let err: unknown;
    try {
      parseMariaGtidPosition(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('E_POSITION_INVALID');
    expect((err as SluiceError).message).toContain(message);
  });

  it('reads the GTIDs of a Gtid_list event', () => {
    expect(parseGtidList('[0-1-40,1-2-7]')).toEqual([
      { domain: 0, server: 1, seq: 40n },
      { domain: 1, server: 2, seq: 7n },
    ]);
    expect(parseGtidList('[]')).toEqual([]);
  });
});
