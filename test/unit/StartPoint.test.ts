import { describe, expect, it } from 'vitest';
import { position } from '../../src/pipeline/position.js';
import { describeStart } from '../../src/pipeline/source/StartPoint.js';

describe('describeStart', () => {
  it('names a position FILE:POS, a GTID start gtid:SET and the end "end"', () => {
    expect(
      describeStart({ kind: 'position', position: position('binlog.000003', 1234), gtid: '0-1-9' }),
    ).toBe('binlog.000003:1234');
    expect(describeStart({ kind: 'gtid', gtid: '0-1-42,1-2-7' })).toBe('gtid:0-1-42,1-2-7');
    expect(describeStart({ kind: 'end' })).toBe('end');
  });
});
