import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/infra/clock.js';

const HOUR = 3_600_000;

describe('systemClock', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('now() is on the epoch scale, in whole milliseconds', () => {
    const before = Date.now();
    const now = systemClock.now();
    const after = Date.now();
    expect(Number.isInteger(now)).toBe(true);
    // The monotonic origin and the wall clock may drift apart by a slew, not by an hour.
    expect(Math.abs(now - before)).toBeLessThan(60_000);
    expect(Math.abs(now - after)).toBeLessThan(60_000);
  });

  it('a wall clock stepped an hour forward or back does not move now()', () => {
    const start = systemClock.now();
    const wall = Date.now();
    const step = vi.spyOn(Date, 'now').mockReturnValue(wall + HOUR);
    const forward = systemClock.now();
    step.mockReturnValue(wall - HOUR);
    const back = systemClock.now();
    // Only the real time between the calls passes, never the step.
    expect(forward - start).toBeGreaterThanOrEqual(0);
    expect(forward - start).toBeLessThan(HOUR / 2);
    expect(back).toBeGreaterThanOrEqual(forward);
    expect(back - start).toBeLessThan(HOUR / 2);
  });

  it("vitest's fake timers drive now() and the timers alike", () => {
    vi.useFakeTimers();
    const start = systemClock.now();
    const fired: number[] = [];
    systemClock.setTimeout(() => fired.push(systemClock.now() - start), 25);
    vi.advanceTimersByTime(24);
    expect(fired).toEqual([]);
    expect(systemClock.now() - start).toBe(24);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([25]);
  });

  it('clearTimeout and clearInterval cancel; null is no timer', () => {
    vi.useFakeTimers();
    const fired: string[] = [];
    const once = systemClock.setTimeout(() => fired.push('timeout'), 10);
    const every = systemClock.setInterval(() => fired.push('interval'), 10);
    systemClock.clearTimeout(once);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['interval']);
    systemClock.clearInterval(every);
    systemClock.clearTimeout(null);
    systemClock.clearInterval(null);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['interval']);
  });

  it('an interval does not hold the process open; a one-shot timer does', () => {
    const every = systemClock.setInterval(() => undefined, 60_000) as NodeJS.Timeout;
    const once = systemClock.setTimeout(() => undefined, 60_000) as NodeJS.Timeout;
    try {
      expect(every.hasRef()).toBe(false);
      expect(once.hasRef()).toBe(true);
    } finally {
      systemClock.clearInterval(every);
      systemClock.clearTimeout(once);
    }
  });
});
