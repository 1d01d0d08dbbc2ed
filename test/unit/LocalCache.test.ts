import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalCache, type LocalEntry } from '../../src/cache/LocalCache.js';

const entry = (value: unknown): LocalEntry => ({
  entry: { present: true, value },
  json: JSON.stringify(value),
});
const absent: LocalEntry = { entry: { present: false }, json: null };

describe('LocalCache', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 }); // lru-cache reads a start time of 0 as "no TTL"
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gets what was set, deletes one key, clears all', () => {
    const l1 = new LocalCache();
    l1.set('a', entry(1));
    l1.set('b', absent);
    expect(l1.get('a')).toEqual(entry(1));
    expect(l1.get('b')).toEqual(absent);
    expect(l1.size).toBe(2);
    l1.delete('a');
    expect(l1.get('a')).toBeUndefined();
    expect(l1.size).toBe(1);
    l1.clear();
    expect(l1.get('b')).toBeUndefined();
    expect(l1.size).toBe(0);
  });

  it('deletePattern drops the keys a Redis glob matches and counts them', () => {
    const l1 = new LocalCache();
    for (const k of ['user:1', 'user:2', 'user:email:x', 'chat:1']) l1.set(k, entry(k));
    expect(l1.deletePattern('user:?')).toBe(2);
    expect(
      ['user:1', 'user:2', 'user:email:x', 'chat:1'].map((k) => l1.get(k) !== undefined),
    ).toEqual([false, false, true, true]);
    expect(l1.deletePattern('nothing:*')).toBe(0);
  });

  it('entries expire after ttlMs (default 60 s); a shorter per-entry ttl wins, a longer one is capped', () => {
    const l1 = new LocalCache({ ttlMs: 1000 });
    expect(l1.ttlMs).toBe(1000);
    expect(new LocalCache().ttlMs).toBe(60_000);
    l1.set('default', entry(1));
    l1.set('short', entry(2), 100);
    l1.set('long', entry(3), 5000);
    vi.advanceTimersByTime(101);
    expect(l1.get('short')).toBeUndefined();
    expect(l1.get('default')).toEqual(entry(1));
    vi.advanceTimersByTime(900);
    expect(l1.get('default')).toBeUndefined();
    expect(l1.get('long')).toBeUndefined();
    // Expired entries go when touched, not by a timer per entry.
    const lazy = new LocalCache({ ttlMs: 100 });
    lazy.set('x', entry(1));
    vi.advanceTimersByTime(200);
    expect(lazy.size).toBe(1);
    expect(lazy.get('x')).toBeUndefined();
    expect(lazy.size).toBe(0);
  });

  it('is bounded by entry count (default 10,000), dropping the least recently used', () => {
    const l1 = new LocalCache({ maxEntries: 2 });
    l1.set('a', entry(1));
    l1.set('b', entry(2));
    l1.get('a');
    l1.set('c', entry(3));
    expect([l1.get('a'), l1.get('b'), l1.get('c')].map((e) => e !== undefined)).toEqual([
      true,
      false,
      true,
    ]);
    const big = new LocalCache();
    for (let i = 0; i < 10_001; i++) big.set(`k${i}`, absent);
    expect(big.size).toBe(10_000);
  });

  it('is bounded by bytes: key length + JSON length (1 for a negative entry) + 64 per entry', () => {
    const l1 = new LocalCache({ maxBytes: 200 });
    l1.set('k1', { entry: { present: true, value: 'x' }, json: '"x"' }); // 2 + 3 + 64 = 69
    expect(l1.bytes).toBe(69);
    l1.set('k2', absent); // 2 + 1 + 64 = 67
    expect(l1.bytes).toBe(136);
    l1.set('k3', absent); // 203 > 200: the oldest goes
    expect(l1.bytes).toBe(134);
    expect(l1.get('k1')).toBeUndefined();
    const dflt = new LocalCache();
    const json = 'x'.repeat(64 * 1024 * 1024);
    dflt.set('huge', { entry: { present: true, value: json }, json });
    expect(dflt.get('huge')).toBeUndefined(); // larger than the default 64 MiB
    dflt.set('fits', { entry: { present: true, value: 1 }, json: 'x'.repeat(1024 * 1024) });
    expect(dflt.get('fits')).toBeDefined();
  });
});
