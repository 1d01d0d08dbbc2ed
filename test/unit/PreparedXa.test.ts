import { describe, expect, it } from 'vitest';
import { PreparedXa } from '../../src/pipeline/batch/PreparedXa.js';

const setup = (maxGroupKeys = 4, maxPreparedKeys = 6) =>
  new PreparedXa({
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
    xa.prepare("X'31',X'',1");
    expect(xa.size).toBe(3);
    xa.rows(['other']); // the next group's rows are not the XA's
    xa.ended();
    expect(xa.commit("X'31',X'',1")).toEqual(['a', 'b', 'c']);
    expect(xa.size).toBe(0);
    expect(xa.commit("X'31',X'',1")).toBe(null);
  });

  it('an XA with no keys (its rows on tables no rule maps) comes back empty, not unknown', () => {
    const xa = setup();
    xa.prepare('x1');
    expect(xa.commit('x1')).toEqual([]);
  });

  it("a commit ends a group: its rows are not the next XA's", () => {
    const xa = setup();
    xa.rows(['t1']);
    xa.ended();
    xa.rows(['x']);
    xa.prepare('x1');
    expect(xa.commit('x1')).toEqual(['x']);
  });

  it('XA ROLLBACK forgets the keys; an unknown xid (prepared before the daemon started) is null', () => {
    const xa = setup();
    xa.rows(['a']);
    xa.prepare('x1');
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
    xa.prepare('big');
    expect(xa.commit('big')).toBe(null);
    xa.rows(['a', 'b', 'c', 'd']); // the next group starts from nothing
    xa.prepare('four');
    expect(xa.commit('four')).toEqual(['a', 'b', 'c', 'd']);
    xa.rows(['a', 'b', 'c']);
    xa.rows(['d', 'e']);
    xa.ended(); // an ordinary large transaction
    xa.rows(['y']);
    xa.prepare('after');
    expect(xa.commit('after')).toEqual(['y']);
  });

  it('over maxPreparedKeys the oldest prepared XA is forgotten first; at it, none', () => {
    const xa = setup(4, 6);
    xa.rows(['a', 'b', 'c']);
    xa.prepare('x1');
    xa.rows(['d', 'e', 'f']);
    xa.prepare('x2'); // 6: at the bound
    expect(xa.size).toBe(6);
    xa.rows(['g']);
    xa.prepare('x3'); // 7 > 6: x1 goes
    expect(xa.size).toBe(4);
    expect(xa.commit('x1')).toBe(null);
    expect(xa.commit('x2')).toEqual(['d', 'e', 'f']);
    expect(xa.commit('x3')).toEqual(['g']);
  });

  it('the same xid prepared again replaces its keys, counted once', () => {
    const xa = setup();
    xa.rows(['a', 'b']);
    xa.prepare('x1');
    xa.rows(['c']);
    xa.prepare('x1');
    expect(xa.size).toBe(1);
    expect(xa.commit('x1')).toEqual(['c']);
    expect(xa.size).toBe(0);
  });

  describe('the checkpoint a prepared XA holds (so that a restart reads its rows again)', () => {
    it('held is the checkpoint before the prepared XA until its XA COMMIT or XA ROLLBACK', () => {
      const { xa } = holding();
      expect(xa.held(0)).toBe(null);
      xa.rows(['a']);
      xa.prepare('x1', 'before-x1', 100);
      expect(xa.count).toBe(1);
      expect(xa.held(200)).toBe('before-x1');
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.count).toBe(0);
      expect(xa.held(200)).toBe(null);
      xa.rows(['b']);
      xa.prepare('x2', 'before-x2', 300);
      expect(xa.held(300)).toBe('before-x2');
      xa.rollback('x2');
      expect(xa.held(300)).toBe(null);
    });

    it('with several prepared, the oldest holds; its end hands the hold to the next', () => {
      const { xa } = holding();
      xa.rows(['a']);
      xa.prepare('x1', 'cp1', 100);
      xa.rows(['b']);
      xa.prepare('x2', 'cp2', 150);
      expect(xa.held(200)).toBe('cp1');
      xa.commit('x1');
      expect(xa.held(200)).toBe('cp2');
      xa.commit('x2');
      expect(xa.held(200)).toBe(null);
    });

    it('an XA with no known checkpoint before it holds nothing, and does not hide the next', () => {
      const { xa } = holding();
      xa.rows(['a']);
      xa.prepare('x1', null, 100);
      xa.rows(['b']);
      xa.prepare('x2', 'cp2', 100);
      expect(xa.held(100)).toBe('cp2');
      xa.commit('x2');
      expect(xa.held(100)).toBe(null);
      expect(xa.commit('x1')).toEqual(['a']);
    });

    it('it holds for maxHoldMs of event time; then it stops holding, says so once, and its keys stay for its XA COMMIT', () => {
      const { xa, expired } = holding();
      xa.rows(['a']);
      xa.prepare('x1', 'cp1', 1000);
      xa.rows(['b']);
      xa.prepare('x2', 'cp2', 1500);
      expect(xa.held(2000)).toBe('cp1'); // exactly maxHoldMs: still held
      expect(expired).toEqual([]);
      expect(xa.held(2001)).toBe('cp2');
      expect(expired).toEqual([['x1', 1001]]);
      expect(xa.held(2001)).toBe('cp2');
      expect(expired).toEqual([['x1', 1001]]);
      expect(xa.held(2501)).toBe(null);
      expect(expired).toEqual([
        ['x1', 1001],
        ['x2', 1001],
      ]);
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.commit('x2')).toEqual(['b']);
    });

    it('an XA too large to keep, or forgotten for newer ones, holds nothing', () => {
      const { xa } = holding(2);
      xa.rows(['a', 'b', 'c', 'd', 'e']); // over maxGroupKeys
      xa.prepare('big', 'cp-big', 100);
      expect(xa.held(100)).toBe(null);
      xa.rows(['a', 'b']);
      xa.prepare('x1', 'cp1', 100);
      xa.rows(['c']);
      xa.prepare('x2', 'cp2', 100); // 3 > 2: x1 forgotten
      expect(xa.held(100)).toBe('cp2');
      xa.commit('x2');
      expect(xa.held(100)).toBe(null);
    });

    it('releaseHolds (the stream starts again) drops every hold, not the keys; prepared again, it holds again', () => {
      const { xa } = holding();
      xa.rows(['a']);
      xa.prepare('x1', 'cp1', 100);
      xa.releaseHolds();
      expect(xa.held(100)).toBe(null);
      xa.rows(['a']); // read again from the checkpoint
      xa.prepare('x1', 'cp0', 100);
      expect(xa.held(100)).toBe('cp0');
      expect(xa.commit('x1')).toEqual(['a']);
      expect(xa.held(100)).toBe(null);
    });

    it('the same xid prepared again replaces its hold, counted once', () => {
      const { xa } = holding();
      xa.rows(['a']);
      xa.prepare('x1', 'cp1', 100);
      xa.rows(['a']);
      xa.prepare('x1', 'cp0', 100);
      expect(xa.held(100)).toBe('cp0');
      xa.commit('x1');
      expect(xa.held(100)).toBe(null);
      xa.rows(['b']);
      xa.prepare('x2', null, 100);
      expect(xa.held(100)).toBe(null);
    });
  });
});
