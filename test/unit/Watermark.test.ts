import { describe, expect, it } from 'vitest';
import { parseFenceToken, Watermark } from '../../src/bus/Watermark.js';

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U2 = '8a94f357-aab4-11df-86ab-c80aa9429562';

describe('parseFenceToken', () => {
  it('MariaDB GTIDs: the highest seq per domain', () => {
    const t = parseFenceToken(' 0-1-42, 1-2-7,0-3-40 ');
    expect(t.kind).toBe('mariadb');
    expect(t.kind === 'mariadb' && [...t.seqs]).toEqual([
      [0, 42n],
      [1, 7n],
    ]);
    expect(t.text).toBe('0-1-42,1-2-7,0-3-40');
  });

  it('MySQL GTID sets (fixtures as the server prints them): the highest transaction per uuid and tag', () => {
    // @@global.gtid_executed, multi-line as MySQL prints it, with intervals and a tag (8.4).
    const t = parseFenceToken(`${U1.toUpperCase()}:1-5:11-18,\n${U2}:1-27:tag_a:3-9`);
    expect(t.kind === 'mysql' && [...t.ends]).toEqual([
      [U1, 18n],
      [U2, 27n],
      [`${U2}:tag_a`, 9n],
    ]);
    // session_track_gtids = OWN_GTID: one transaction.
    const own = parseFenceToken(`${U1}:23`);
    expect(own.kind === 'mysql' && [...own.ends]).toEqual([[U1, 23n]]);
  });

  it('a binlog position', () => {
    expect(parseFenceToken('binlog.000003:1234')).toEqual({
      kind: 'position',
      text: 'binlog.000003:1234',
      file: 'binlog.000003',
      pos: 1234,
    });
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['hello', /is not a GTID/],
    ['0-1', /is not a GTID/],
    [`${U1}:5-3`, /ends before it starts/],
    [`${U1}:x-y`, /not a transaction interval/],
    [`${U1}`, /is not a GTID/],
    ['0-1-42,binlog.000001:4', /is not a GTID/],
    ['x'.repeat(5000), /longer than 4096/],
  ])('%j is E_FENCE_TOKEN_INVALID (%s)', (text, why) => {
    expect(() => parseFenceToken(text)).toThrow(why);
    try {
      parseFenceToken(text);
    } catch (err) {
      expect(err).toMatchObject({ code: 'E_FENCE_TOKEN_INVALID' });
    }
  });
});

describe('Watermark', () => {
  const passes = (w: Watermark, t: string): boolean => w.passes(parseFenceToken(t));

  it('MariaDB: per domain, only forward; an unseen domain never passes', () => {
    const w = new Watermark();
    expect(passes(w, '0-1-1')).toBe(false);
    w.advance(undefined, '0-1-42');
    expect(passes(w, '0-1-42')).toBe(true);
    expect(passes(w, '0-2-41')).toBe(true); // the server id does not order GTIDs
    expect(passes(w, '0-1-43')).toBe(false);
    expect(passes(w, '1-1-1')).toBe(false);
    expect(passes(w, '0-1-40,1-1-1')).toBe(false);
    w.advance(undefined, '0-1-30'); // older: ignored
    expect(passes(w, '0-1-42')).toBe(true);
    w.advance(undefined, '1-1-5');
    expect(passes(w, '0-1-40,1-1-5')).toBe(true);
  });

  it('MySQL: per server uuid (and tag)', () => {
    const w = new Watermark();
    w.advance(undefined, `${U1}:100`);
    expect(passes(w, `${U1}:1-100`)).toBe(true);
    expect(passes(w, `${U1}:101`)).toBe(false);
    expect(passes(w, `${U1}:1-100,${U2}:1`)).toBe(false);
    expect(passes(w, `${U1}:tag_a:1`)).toBe(false);
    w.advance(undefined, `${U2}:tag_a:4`);
    expect(passes(w, `${U2}:tag_a:4`)).toBe(true);
    w.advance(undefined, `${U1}:99`);
    expect(passes(w, `${U1}:100`)).toBe(true);
  });

  it('positions: by file sequence, then offset; only forward', () => {
    const w = new Watermark();
    expect(passes(w, 'binlog.000001:4')).toBe(false);
    w.advance('binlog.000002:500', undefined);
    expect(passes(w, 'binlog.000002:500')).toBe(true);
    expect(passes(w, 'binlog.000001:99999')).toBe(true);
    expect(passes(w, 'binlog.000002:501')).toBe(false);
    expect(passes(w, 'binlog.000003:4')).toBe(false);
    w.advance('binlog.000001:900', undefined);
    expect(passes(w, 'binlog.000002:500')).toBe(true);
    w.advance('binlog.000010:4', undefined);
    expect(passes(w, 'binlog.000009:123456')).toBe(true);
  });

  it('a GTID token is not answered by positions, nor the reverse; foreign marks are ignored', () => {
    const w = new Watermark();
    w.advance('binlog.000002:500', undefined);
    expect(passes(w, '0-1-1')).toBe(false);
    const g = new Watermark();
    g.advance('not a position', 'not a gtid');
    g.advance(undefined, '0-1-5');
    expect(passes(g, 'binlog.000001:4')).toBe(false);
    expect(passes(g, '0-1-5')).toBe(true);
  });
});
