import { describe, expect, it } from 'vitest';
import { globToRegExp } from '../../src/keys/glob.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { keySlot } from '../../src/keys/slot.js';

/** Deterministic PRNG (mulberry32) so a failure names a reproducible key. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const FIXED = [
  'user:1',
  'user:email:a@b.c',
  'chat:7:messages',
  'user:{42}',
  '{user1000}.following',
  '{',
  '}',
  '{}',
  '}{',
  'a}b',
  'a{b',
  '{}x}',
  'x}{y}',
  'a{}b{c}',
  '}}}',
  '{{}}',
  'user:{}:1',
  '',
  '🐧',
  'zoë:{🐧}',
  'emoji}🐧',
];

function randomKeys(count: number): string[] {
  const pick = prng(20240101);
  const parts = ['a', 'b', 'user:', '{', '}', '{}', '}{', ':', '🐧', 'é', '1', '42', ' '];
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    let key = '';
    const len = pick(9);
    for (let j = 0; j < len; j++) key += parts[pick(parts.length)] ?? '';
    keys.push(key);
  }
  return keys;
}

describe('RedisKeys', () => {
  it('names the checkpoint and status keys after the source (contract)', () => {
    expect(RedisKeys.checkpoint('main')).toBe('sluice:checkpoint:main');
    expect(RedisKeys.status('main')).toBe('sluice:status:main');
  });

  it('derives lease and lock keys by the documented rules', () => {
    expect(RedisKeys.lease('user:1')).toBe('sluice:lease:w:{user:1}');
    expect(RedisKeys.lock('user:1')).toBe('sluice:lock:w:{user:1}');
    expect(RedisKeys.lease('user:{42}')).toBe('sluice:lease:t:user:{42}');
    expect(RedisKeys.lease('a}b')).toMatch(/^sluice:lease:s:a\}b:\d+$/);
    expect(RedisKeys.lease('')).toMatch(/^sluice:lease:s::\d+$/);
    // One-to-one: a key and the same key in braces get different leases.
    expect(RedisKeys.lease('{user:1}')).not.toBe(RedisKeys.lease('user:1'));
  });

  it('lease and lock keys share the slot of their data key, for 600+ awkward keys', () => {
    const keys = [...FIXED, ...randomKeys(600)];
    const wrong = keys.filter((key) => {
      const lease = RedisKeys.lease(key);
      const lock = RedisKeys.lock(key);
      return (
        keySlot(lease) !== keySlot(key) ||
        keySlot(lock) !== keySlot(key) ||
        lease === key ||
        lock === lease ||
        RedisKeys.lease(key) !== lease // deterministic
      );
    });
    expect(wrong).toEqual([]);
  });

  it('the lease globs of a data pattern: one per form', () => {
    expect(RedisKeys.leasePatterns('user:*')).toEqual([
      'sluice:lease:t:user:*',
      'sluice:lease:w:{user:*}',
      'sluice:lease:s:user:*:*',
    ]);
  });

  it('a key-space flush reaches the lease of every key it removes, in all three forms', () => {
    // A lease the flush misses lets a fill that started before it land after it (stale).
    const keys = [...FIXED, ...randomKeys(600)];
    const globs = RedisKeys.leasePatterns('*').map(globToRegExp);
    const missed = keys.filter((key) => !globs.some((re) => re.test(RedisKeys.lease(key))));
    expect(missed).toEqual([]);
    const userGlobs = RedisKeys.leasePatterns('user:*').map(globToRegExp);
    const userKeys = ['user:1', 'user:{42}', 'user:}', 'user:a}b{'];
    expect(userKeys.map((k) => userGlobs.some((re) => re.test(RedisKeys.lease(k))))).toEqual([
      true,
      true,
      true,
      true,
    ]);
  });
});
