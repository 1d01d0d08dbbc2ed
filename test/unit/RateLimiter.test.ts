import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/pipeline/batch/RateLimiter.js';
import { ManualClock } from '../helpers/manualClock.js';

/** A limiter whose window starts at `start` ms (not 0: a sum and a difference must differ). */
function setup(keysPerSec: number, start = 50_000) {
  const clock = new ManualClock();
  clock.advance(start);
  return { clock, limiter: new RateLimiter(keysPerSec, clock) };
}

describe('RateLimiter (replay --max-keys-per-sec)', () => {
  it('n keys are due n / rate seconds after the window started, less the time already gone', () => {
    const { clock, limiter } = setup(4);
    expect(limiter.delayFor(2)).toBe(500);
    clock.advance(200);
    expect(limiter.delayFor(2)).toBe(800); // 4 keys due at 1000 ms, 200 ms gone
    clock.advance(2000);
    expect(limiter.delayFor(4)).toBe(0); // 8 keys due at 2000 ms, 2200 ms gone
    expect(limiter.delayFor(1)).toBe(50); // 9 keys due at 2250 ms
  });

  it('keys exactly on time wait 0 ms', () => {
    const { clock, limiter } = setup(10);
    clock.advance(300);
    expect(limiter.delayFor(3)).toBe(0);
  });

  it('the window restarts once more than 10 s passed (a pause buys no burst), not at 10 s', () => {
    const { clock, limiter } = setup(1);
    expect(limiter.delayFor(1)).toBe(1000);
    clock.advance(10_000);
    // Same window: 2 keys due at 2 s, 10 s gone.
    expect(limiter.delayFor(1)).toBe(0);
    clock.advance(1);
    // New window at 10 001 ms: its first key is due 1 s later, then 2 s.
    expect(limiter.delayFor(1)).toBe(1000);
    clock.advance(500);
    expect(limiter.delayFor(1)).toBe(1500);
  });

  it('wait() sleeps on the clock for the delay', async () => {
    const { clock, limiter } = setup(2);
    let done = false;
    const waiting = limiter.wait(4).then(() => (done = true));
    expect(clock.pending).toBe(1);
    clock.advance(1999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await waiting;
    expect(done).toBe(true);
  });

  it('wait() with nothing to wait for returns without a timer', async () => {
    const { clock, limiter } = setup(2);
    clock.advance(1000);
    const waiting = limiter.wait(2); // due at 1000 ms: on time
    expect(clock.pending).toBe(0);
    await waiting;
  });
});
