import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_LENGTH, parseFenceToken, Watermark } from '../../src/bus/Watermark.js';

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

describe('parseFenceToken: the edges', () => {
  it('spaces and tabs around every comma are dropped', () => {
    expect(parseFenceToken('0-1-42  ,  1-2-7 ,\t2-3-4').text).toBe('0-1-42,1-2-7,2-3-4');
  });

  it('MariaDB GTIDs with several digits everywhere', () => {
    const t = parseFenceToken('10-20-30,10-21-29');
    expect(t.kind === 'mariadb' && [...t.seqs]).toEqual([[10, 30n]]);
  });

  it('MySQL: the highest transaction whatever the intervals order; a one-transaction interval a-a', () => {
    const t = parseFenceToken(`${U1}:11-18:1-5,${U2}:5-5`);
    expect(t.kind === 'mysql' && [...t.ends]).toEqual([
      [U1, 18n],
      [U2, 5n],
    ]);
  });

  it('a token of exactly MAX_TOKEN_LENGTH is accepted, one more character is not', () => {
    const head = Array.from({ length: 681 }, () => '0-1-1').join(',');
    const last = `,0-1-${'1'.repeat(MAX_TOKEN_LENGTH - head.length - 5)}`;
    const token = head + last;
    expect(token).toHaveLength(MAX_TOKEN_LENGTH);
    expect(parseFenceToken(token).kind).toBe('mariadb');
    expect(() => parseFenceToken(`${token}1`)).toThrow(/longer than 4096/);
  });

  it('a file name that merely contains a uuid is a position', () => {
    expect(parseFenceToken(`x${U1}:1`)).toMatchObject({ kind: 'position', file: `x${U1}` });
    expect(parseFenceToken(`${U1}x:1`)).toMatchObject({ kind: 'position', file: `${U1}x` });
  });

  it.each([
    ['x0-1-42', /"x0-1-42" is not a GTID/],
    ['0-1-42x', /"0-1-42x" is not a GTID/],
    ['dir/binlog.000001:4', /is not a GTID/],
    ['binlog.000001:4x', /is not a GTID/],
    [`${U1}:-5`, /"-5" is not a transaction interval/],
    [`${U1}:5x`, /"5x" is not a transaction interval/],
  ])('%j is refused', (text, why) => {
    expect(() => parseFenceToken(text)).toThrow(why);
  });

  it('the error quotes at most 100 characters of the token and 60 of the bad part', () => {
    const text = 'z'.repeat(300);
    let err: unknown;
    try {
      parseFenceToken(text);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'E_FENCE_TOKEN_INVALID',
      message: `fence token "${'z'.repeat(100)}": "${'z'.repeat(60)}" is not a GTID; expected a MariaDB GTID (0-1-42), a MySQL GTID set (uuid:1-42) or FILE:POS`,
      details: { token: 'z'.repeat(100) },
    });
    expect(() => parseFenceToken(`${U1}:${'-'.repeat(80)}`)).toThrow(
      `: "${'-'.repeat(60)}" is not a transaction interval;`,
    );
  });
});

describe('Watermark: positions across files', () => {
  const passes = (w: Watermark, t: string): boolean => w.passes(parseFenceToken(t));

  it('files by their numeric sequence, not their text (binlog.9 is before binlog.10)', () => {
    const w = new Watermark();
    w.advance('binlog.9:400', undefined);
    expect(passes(w, 'binlog.10:4')).toBe(false);
    expect(passes(w, 'binlog.8:999')).toBe(true);
    w.advance('binlog.10:4', undefined);
    expect(passes(w, 'binlog.9:99999')).toBe(true);
    w.advance('binlog.9:500', undefined); // behind: ignored
    expect(passes(w, 'binlog.10:4')).toBe(true);
  });

  it('the sequence is what follows the last dot', () => {
    const w = new Watermark();
    w.advance('db1.bin.9:400', undefined);
    expect(passes(w, 'db1.bin.10:4')).toBe(false);
    expect(passes(w, 'db1.bin.8:4')).toBe(true);
  });

  it('same sequence, other name: ordered by name; a file without a sequence sorts first', () => {
    const w = new Watermark();
    w.advance('b.5:100', undefined);
    expect(passes(w, 'a.5:999')).toBe(true);
    expect(passes(w, 'c.5:1')).toBe(false);
    expect(passes(w, 'relay:999')).toBe(true);
    const n = new Watermark();
    n.advance('b:100', undefined);
    expect(passes(n, 'a:999')).toBe(true);
    expect(passes(n, 'c:1')).toBe(false);
    const z = new Watermark();
    z.advance('z:100', undefined);
    expect(passes(z, 'binlog.000001:4')).toBe(false);
  });

  it('a fresh watermark passes no position, whatever its file', () => {
    const w = new Watermark();
    expect(passes(w, 'relay:4')).toBe(false);
  });

  it('a position in the gtid field is ignored', () => {
    const w = new Watermark();
    w.advance(undefined, 'binlog.000001:4');
    expect(passes(w, 'binlog.000001:4')).toBe(false);
  });
});
