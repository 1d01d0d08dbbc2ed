import { describe, expect, it } from 'vitest';
import { PreparedXa } from '../../src/pipeline/batch/PreparedXa.js';

const setup = (maxGroupKeys = 4, maxPreparedKeys = 6) =>
  new PreparedXa({ maxGroupKeys, maxPreparedKeys });

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
});
