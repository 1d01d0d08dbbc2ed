import { describe, expect, it } from 'vitest';
import { FillTracker } from '../../src/cache/FillTracker.js';

describe('FillTracker', () => {
  it('a key invalidation marks only the fills of those keys stale', () => {
    const t = new FillTracker();
    const a = t.begin('user:1');
    const b = t.begin('user:2');
    t.invalidateKeys(['user:1', 'user:9']);
    expect([a.stale, b.stale]).toEqual([true, false]);
  });

  it('a pattern invalidation marks the fills whose key matches the glob', () => {
    const t = new FillTracker();
    const a = t.begin('user:1');
    const b = t.begin('user:email:a@b');
    const c = t.begin('chat:1:messages');
    t.invalidatePattern('user:[0-9]*');
    expect([a.stale, b.stale, c.stale]).toEqual([true, false, false]);
    t.invalidatePattern('user:*');
    expect([a.stale, b.stale, c.stale]).toEqual([true, true, false]);
  });

  it('a reset marks every fill stale', () => {
    const t = new FillTracker();
    const fills = ['a', 'b', 'c'].map((k) => t.begin(k));
    t.invalidateAll();
    expect(fills.map((f) => f.stale)).toEqual([true, true, true]);
  });

  it('an ended fill is no longer tracked: a later invalidation does not touch it', () => {
    const t = new FillTracker();
    const a = t.begin('k');
    t.end(a);
    t.invalidateKeys(['k']);
    t.invalidatePattern('*');
    t.invalidateAll();
    expect(a.stale).toBe(false);
  });

  it('ending an older fill of a key keeps tracking the newer one', () => {
    const t = new FillTracker();
    const older = t.begin('k');
    const newer = t.begin('k');
    t.end(older);
    t.invalidateKeys(['k']);
    expect([older.stale, newer.stale]).toEqual([false, true]);
    t.end(newer);
    const again = t.begin('k');
    t.invalidatePattern('k');
    expect(again.stale).toBe(true);
  });

  it('starts fresh; size counts the fills in progress', () => {
    const t = new FillTracker();
    expect(t.size).toBe(0);
    const a = t.begin('k');
    expect(a).toEqual({ key: 'k', stale: false });
    t.begin('j');
    expect(t.size).toBe(2);
    t.end(a);
    expect(t.size).toBe(1);
  });
});
