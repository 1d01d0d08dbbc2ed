import { describe, expect, it } from 'vitest';
import { PreparedXa } from '../../src/pipeline/batch/PreparedXa.js';

const setup = (maxGroupKeys = 4, maxPreparedKeys = 6) =>
  new PreparedXa<string>({
    maxGroupKeys,
    maxPreparedKeys,
    maxHoldMs: 1000,
    onHoldExpired: () => undefined,
  });

/** A PreparedXa holding checkpoints named by strings, recording the expired holds. */
const holding = (maxPreparedKeys = 6) => {
  const expired: Array<[string, number]> = [];
  const xa = new PreparedXa<string>({
    maxGroupKeys: 4,
    maxPreparedKeys,
    maxHoldMs: 1000,
    onHoldExpired: (xid, ms) => expired.push([xid, ms]),
  });
  return { xa, expired };
};

describe('PreparedXa: the keys of prepared XA transactions, for their XA COMMIT', () => {
  it("an XA's keys (the rows before its XA END) come back once at its XA COMMIT", () => {
    const xa = setup();
    xa.rows(['a', 'b']);
    xa.rows(['c']);
    xa.prepare("X'31',X'',1", 0);
    expect(xa.size).toBe(3);
    xa.rows(['other']); // the next group's rows are not the XA's
    xa.boundary('cp', 0);
    expect(xa.commit("X'31',X'',1")).toEqual(['a', 'b', 'c']);
    expect(xa.size).toBe(0);
    expect(xa.commit("X'31',X'',1")).toBe(null);
  });

  it('an XA with no keys (its rows on tables no rule maps) comes back empty, not unknown', () => {
    const xa = setup();
    xa.prepare('x1', 0);
    expect(xa.commit('x1')).toEqual([]);
  });

  it("a boundary (a commit or a DDL statement) ends a group: its rows are not the next XA's", () => {
    const xa = setup();
    xa.rows(['t1']);
    xa.boundary('cp1', 0);
    xa.rows(['x']);
    xa.prepare('x1', 0);
    expect(xa.commit('x1')).toEqual(['x']);
  });

  it("a restart ends a group: rows read before it are not the XA's read after it", () => {
    const xa = setup();
    xa.rows(['old']); // the stream broke off inside this group
    xa.restart('cp0');
    xa.rows(['x']);
    xa.prepare('x1', 0);
    expect(xa.commit('x1')).toEqual(['x']);
  });

  it('XA ROLLBACK forgets the keys; an unknown xid (prepared before the daemon started) is null', () => {
    const xa = setup();
    xa.rows(['a']);
    xa.prepare('x1', 0);
    xa.rollback('x1');
    expect(xa.size).toBe(0);
    expect(xa.commit('x1')).toBe(null);
    xa.rollback('never-seen'); // nothing to forget
    expect(xa.commit('never-seen')).toBe(null);
  });

  it('a group of more than maxGroupKeys keys is not kept, however it ends; exactly maxGroupKeys is', () => {
    const xa = setup(4);
    xa.rows(['a', 'b', 'c']);
    xa.rows(['d', 'e']); // 5 > 4
    xa.rows(['f']); // still the same, too large group
    xa.prepare('big', 0);
    expect(xa.commit('big')).toBe(null);
    xa.rows(['a', 'b', 'c', 'd']); // the next group starts from nothing
    xa.prepare('four', 0);
    expect(xa.commit('four')).toEqual(['a', 'b', 'c', 'd']);
    xa.rows(['a', 'b', 'c']);
    xa.rows(['d', 'e']);
    xa.boundary('cp', 0); // an ordinary large transaction
    xa.rows(['y']);
    xa.prepare('after', 0);
    expect(xa.commit('after')).toEqual(['y']);
  });

  it('over maxPreparedKeys the oldest prepared XA is forgotten first; at it, none', () => {
    const xa = setup(4, 6);
    xa.rows(['a', 'b', 'c']);
    xa.prepare('x1', 0);
    xa.rows(['d', 'e', 'f']);
    xa.prepare('x2', 0); // 6: at the bound
    expect(xa.size).toBe(6);
    xa.rows(['g']);
    xa.prepare('x3', 0); // 7 > 6: x1 goes
    expect(xa.size).toBe(4);
    expect(xa.commit('x1')).toBe(null);
    expect(xa.commit('x2')).toEqual(['d', 'e', 'f']);
    expect(xa.commit('x3')).toEqual(['g']);
  });

  it('the same xid prepared again replaces its keys, counted once', () => {
    const xa = setup();
    xa.rows(['a', 'b']);
    xa.prepare('x1', 0);
    xa.rows(['c']);
    xa.prepare('x1', 0);
    expect(xa.size).toBe(1);
    expect(xa.commit('x1')).toEqual(['c']);
    expect(xa.size).toBe(0);
  });

  describe('the checkpoint a prepared XA holds (so that a restart reads its rows again)', () => {
    it('a boundary writes its own checkpoint, except while an XA is prepared: then the one before the XA, until its XA COMMIT or XA ROLLBACK', () => {
      const { xa } = holding();
      expect(xa.held).toBe(false);
      expect(xa.boundary('before-x1', 0)).toBe('before-x1');
      expect(xa.held).toBe(false);
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.count).toBe(1);
      expect(xa.boundary('cp2', 200)).toBe('before-x1');
      expect(xa.held).toBe(true);
      expect(xa.boundary('cp3', 200)).toBe('before-x1'); // a later boundary does not move it
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.count).toBe(0);
      expect(xa.held).toBe(true); // until the next boundary is written
      expect(xa.boundary('before-x2', 200)).toBe('before-x2');
      expect(xa.held).toBe(false);
      xa.rows(['b']);
      xa.prepare('x2', 300);
      expect(xa.boundary('cp5', 300)).toBe('before-x2');
      xa.rollback('x2');
      expect(xa.boundary('cp6', 300)).toBe('cp6');
      expect(xa.held).toBe(false);
    });

    it('a DDL statement read before an XA is the boundary it holds', () => {
      const { xa } = holding();
      xa.boundary('cp1', 0);
      xa.boundary('ddl', 0); // a DDL statement: a group of its own
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.boundary('cp2', 100)).toBe('ddl');
    });

    it('with several prepared, the oldest holds; its end hands the hold to the next', () => {
      const { xa } = holding();
      xa.boundary('cp1', 0);
      xa.rows(['a']);
      xa.prepare('x1', 100);
      xa.boundary('cp2', 100);
      xa.rows(['b']);
      xa.prepare('x2', 150);
      expect(xa.boundary('cp3', 200)).toBe('cp1');
      xa.commit('x1');
      expect(xa.boundary('cp4', 200)).toBe('cp2');
      xa.commit('x2');
      expect(xa.boundary('cp5', 200)).toBe('cp5');
    });

    it('an XA read before any boundary (a start at the end or a GTID) holds nothing, and does not hide the next', () => {
      const { xa } = holding();
      xa.restart(null);
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.boundary('cp2', 100)).toBe('cp2');
      expect(xa.held).toBe(false);
      xa.rows(['b']);
      xa.prepare('x2', 100);
      expect(xa.boundary('cp3', 100)).toBe('cp2');
      xa.commit('x2');
      expect(xa.boundary('cp4', 100)).toBe('cp4');
      expect(xa.commit('x1')).toEqual(['a']);
    });

    it('a start at a position is the boundary an XA read first holds', () => {
      const { xa } = holding();
      xa.restart('start');
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.boundary('cp1', 100)).toBe('start');
    });

    it('it holds for maxHoldMs of event time; then it stops holding, says so once, and its keys stay for its XA COMMIT', () => {
      const { xa, expired } = holding();
      xa.boundary('cp1', 1000);
      xa.rows(['a']);
      xa.prepare('x1', 1000);
      xa.boundary('cp2', 1500);
      xa.rows(['b']);
      xa.prepare('x2', 1500);
      expect(xa.boundary('cp3', 2000)).toBe('cp1'); // exactly maxHoldMs: still held
      expect(expired).toEqual([]);
      expect(xa.boundary('cp4', 2001)).toBe('cp2');
      expect(expired).toEqual([['x1', 1001]]);
      expect(xa.boundary('cp5', 2001)).toBe('cp2');
      expect(expired).toEqual([['x1', 1001]]);
      expect(xa.boundary('cp6', 2501)).toBe('cp6');
      expect(xa.held).toBe(false);
      expect(expired).toEqual([
        ['x1', 1001],
        ['x2', 1001],
      ]);
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.commit('x2')).toEqual(['b']);
    });

    it('an XA too large to keep, or forgotten for newer ones, holds nothing', () => {
      const { xa } = holding(2);
      xa.boundary('cp-big', 100);
      xa.rows(['a', 'b', 'c', 'd', 'e']); // over maxGroupKeys
      xa.prepare('big', 100);
      expect(xa.boundary('cp1', 100)).toBe('cp1');
      xa.rows(['a', 'b']);
      xa.prepare('x1', 100);
      xa.boundary('cp2', 100);
      xa.rows(['c']);
      xa.prepare('x2', 100); // 3 > 2: x1 forgotten
      expect(xa.boundary('cp3', 100)).toBe('cp2');
      xa.commit('x2');
      expect(xa.boundary('cp4', 100)).toBe('cp4');
    });

    it('a restart of the stream drops every hold at once, not the keys; read again from there, the XA holds its start point', () => {
      const { xa } = holding();
      xa.boundary('cp1', 100);
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.boundary('cp2', 100)).toBe('cp1');
      expect(xa.held).toBe(true);
      xa.restart('elsewhere'); // the holds named positions of the stream before
      expect(xa.held).toBe(false);
      expect(xa.boundary('cp3', 100)).toBe('cp3');
      xa.restart('cp0');
      xa.rows(['a']); // read again from the checkpoint
      xa.prepare('x1', 100);
      expect(xa.boundary('cp4', 100)).toBe('cp0');
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.boundary('cp5', 100)).toBe('cp5');
    });

    it('the same xid prepared again replaces its hold, counted once', () => {
      const { xa } = holding();
      xa.boundary('cp1', 100);
      xa.rows(['a']);
      xa.prepare('x1', 100);
      xa.restart('cp0');
      xa.rows(['a']);
      xa.prepare('x1', 100);
      expect(xa.count).toBe(1);
      expect(xa.size).toBe(1);
      expect(xa.boundary('cp2', 100)).toBe('cp0');
      xa.commit('x1');
      expect(xa.boundary('cp3', 100)).toBe('cp3');
    });
  });
});
