import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/infra/clock.js';
import { CheckSchedule, type Sample } from '../../src/verify/CheckSchedule.js';
import { ConsistencyTally, nines, windowLabel } from '../../src/verify/ConsistencyTally.js';
import { ManualClock } from '../helpers/manualClock.js';

const sample = (key: string, sampledAt: number): Sample => ({
  key,
  resource: 'users',
  id: key.slice(5),
  pos: 'binlog.000001:4',
  sampledAt,
});

describe('CheckSchedule', () => {
  it('hands out each sample once per window, when the window has passed, shortest first', () => {
    const s = new CheckSchedule([10_000, 1000], 100);
    s.add(sample('user:1', 0));
    s.add(sample('user:2', 500));
    expect(s.size).toBe(4);
    expect(s.nextDueAt()).toBe(1000);
    expect(s.takeDue(999)).toEqual([]);
    expect(s.takeDue(1000).map((c) => [c.sample.key, c.windowMs])).toEqual([['user:1', 1000]]);
    expect(s.nextDueAt()).toBe(1500);
    expect(s.takeDue(10_500).map((c) => [c.sample.key, c.windowMs])).toEqual([
      ['user:2', 1000],
      ['user:1', 10_000],
      ['user:2', 10_000],
    ]);
    expect(s.size).toBe(0);
    expect(s.nextDueAt()).toBeNull();
  });

  it('the next due check may be in a longer window than the shortest one’s head', () => {
    const s = new CheckSchedule([1000, 10_000], 100);
    s.add(sample('user:1', 0));
    s.takeDue(1000); // user:1 is left in the 10 s window, due at 10 000
    s.add(sample('user:2', 9500)); // due at 10 500 in the 1 s window
    expect(s.nextDueAt()).toBe(10_000);
  });

  it('refuses a sample that would take the pending checks past maxPending', () => {
    const s = new CheckSchedule([1000, 2000], 5);
    expect(s.add(sample('user:1', 0))).toBe(true);
    expect(s.add(sample('user:2', 0))).toBe(true);
    expect(s.add(sample('user:3', 0))).toBe(false); // 4 + 2 > 5
    expect(s.size).toBe(4);
    s.takeDue(1000);
    expect(s.add(sample('user:3', 1000))).toBe(true);
  });

  it('keeps its order across compaction of a long queue', () => {
    const s = new CheckSchedule([1], 1_000_000);
    for (let i = 0; i < 5000; i++) s.add(sample(`user:${i}`, i));
    const first = s.takeDue(3000);
    expect(first).toHaveLength(3000);
    expect(s.takeDue(10_000).map((c) => c.sample.key)[0]).toBe('user:3000');
  });
});

describe('nines', () => {
  it('is −log10((stale+1)/(checks+1)): finite, 0 with nothing checked, lower with each stale', () => {
    expect(nines(0, 0)).toBe(0);
    expect(nines(999, 0)).toBe(3);
    expect(nines(999, 1)).toBe(2.699);
    expect(nines(9_999_999_999, 0)).toBe(10);
    expect(nines(10, 10)).toBe(0);
  });

  it('labels windows in seconds when whole', () => {
    expect(windowLabel(1000)).toBe('1s');
    expect(windowLabel(60_000)).toBe('60s');
    expect(windowLabel(1500)).toBe('1500ms');
  });
});

describe('ConsistencyTally', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts per window within the horizon and forgets what is older', () => {
    const t = new ConsistencyTally([1000, 10_000], { horizonMs: 60_000, clock: systemClock });
    for (let i = 0; i < 99; i++) t.record(1000, false);
    t.record(1000, true);
    t.record(10_000, false);
    expect(t.recent(1000)).toEqual({ checks: 100, stale: 1 });
    expect(t.recent(10_000)).toEqual({ checks: 1, stale: 0 });
    expect(t.nines(1000)).toBe(nines(100, 1));
    vi.advanceTimersByTime(30_000);
    t.record(1000, false);
    expect(t.recent(1000)).toEqual({ checks: 101, stale: 1 });
    vi.advanceTimersByTime(30_000); // the first 100 are now a full horizon old
    expect(t.recent(1000)).toEqual({ checks: 1, stale: 0 });
    expect(t.recent(10_000)).toEqual({ checks: 0, stale: 0 });
    expect(t.nines(10_000)).toBe(0);
  });

  it('forgets whole one-second buckets: a check leaves when its second is a horizon old', () => {
    const clock = new ManualClock();
    const t = new ConsistencyTally([1000], { horizonMs: 10_000, clock });
    clock.advance(500);
    t.record(1000, true);
    clock.advance(9499); // 9 999: its second (0–999) is not yet 10 s old
    expect(t.recent(1000)).toEqual({ checks: 1, stale: 1 });
    clock.advance(1); // 10 000
    expect(t.recent(1000)).toEqual({ checks: 0, stale: 0 });
  });

  it('ignores a window it does not track', () => {
    const t = new ConsistencyTally([1000], { horizonMs: 60_000, clock: systemClock });
    t.record(5000, true);
    expect(t.recent(5000)).toEqual({ checks: 0, stale: 0 });
  });
});
