import { describe, expect, it, vi } from 'vitest';
import { backoffDelay, REDIS_BACKOFF } from '../../src/infra/backoff.js';
import { TIMED_OUT, withTimeout } from '../../src/infra/timeout.js';

describe('backoffDelay', () => {
  it('doubles from initialMs and stops at maxMs', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 60].map((a) => backoffDelay(a, o))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffDelay(0, o)).toBe(100); // attempts start at 1
    expect(backoffDelay(1, REDIS_BACKOFF)).toBe(100);
    expect(backoffDelay(99, REDIS_BACKOFF)).toBe(2000);
  });

  it('with jitter, a point in the upper half of the delay', () => {
    const o = { initialMs: 100, maxMs: 1000, jitter: true };
    expect(backoffDelay(2, o, () => 0)).toBe(100);
    expect(backoffDelay(2, o, () => 0.999)).toBe(200);
    expect(backoffDelay(2, o, () => 0.5)).toBe(150);
  });
});

describe('withTimeout', () => {
  it('the value when the work wins, TIMED_OUT when the deadline does', async () => {
    expect(await withTimeout(Promise.resolve(7), 1000)).toBe(7);
    expect(await withTimeout(new Promise<number>(() => undefined), 5)).toBe(TIMED_OUT);
  });

  it('clears its timer whichever wins', async () => {
    vi.useFakeTimers();
    try {
      expect(await withTimeout(Promise.resolve(7), 60_000)).toBe(7);
      expect(vi.getTimerCount()).toBe(0);
      const timedOut = withTimeout(new Promise<number>(() => undefined), 10);
      await vi.advanceTimersByTimeAsync(10);
      expect(await timedOut).toBe(TIMED_OUT);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a rejection before the deadline propagates; after it, it is swallowed', async () => {
    await expect(withTimeout(Promise.reject(new Error('no')), 1000)).rejects.toThrow('no');
    let reject!: (e: Error) => void;
    const late = new Promise<number>((_, r) => (reject = r));
    expect(await withTimeout(late, 5)).toBe(TIMED_OUT);
    reject(new Error('late')); // an unhandled rejection would fail the run
    await new Promise((r) => setImmediate(r));
  });
});
