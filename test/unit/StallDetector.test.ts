import { describe, expect, it } from 'vitest';
import { StallDetector, stalledError } from '../../src/pipeline/source/StallDetector.js';
import { ManualClock } from '../helpers/manualClock.js';

function setup() {
  const clock = new ManualClock();
  let paused = false;
  const stalls: number[] = [];
  const detector = new StallDetector(
    100,
    clock,
    () => paused,
    (silentMs) => stalls.push(silentMs),
  );
  return { clock, detector, stalls, pause: (p: boolean) => (paused = p) };
}

describe('StallDetector', () => {
  it('reports a stall once more than three periods passed without activity, checked each period', () => {
    const { clock, detector, stalls } = setup();
    detector.start();
    clock.advance(300); // exactly three periods: not yet
    expect(stalls).toEqual([]);
    clock.advance(100);
    expect(stalls).toEqual([400]);
    clock.advance(1000); // reported once, then stopped
    expect(stalls).toEqual([400]);
    expect(clock.pending).toBe(0);
  });

  it('activity (an event or a server heartbeat) starts the silence over at the next check', () => {
    const { clock, detector, stalls } = setup();
    detector.start();
    clock.advance(250);
    detector.activity(); // at 250: the check at 300 finds it; 400…600 see 100…300 ms
    detector.activity(); // more events change nothing
    clock.advance(350);
    expect(stalls).toEqual([]);
    clock.advance(100); // the check at 700 sees 400 ms
    expect(stalls).toEqual([400]);
  });

  it('activity found by one check does not count for the next', () => {
    const { clock, detector, stalls } = setup();
    detector.start();
    clock.advance(50);
    detector.activity();
    clock.advance(50); // the check at 100 takes it: silence from 100
    clock.advance(300); // checks at 200…400 see 100…300 ms
    expect(stalls).toEqual([]);
    clock.advance(100);
    expect(stalls).toEqual([400]);
  });

  it('silence while paused for backpressure is expected and does not count', () => {
    const { clock, detector, stalls, pause } = setup();
    detector.start();
    pause(true);
    clock.advance(10_000);
    expect(stalls).toEqual([]);
    pause(false);
    clock.advance(300);
    expect(stalls).toEqual([]);
    clock.advance(100);
    expect(stalls).toEqual([400]);
  });

  it('activity before start() is forgotten: the silence counts from the start', () => {
    const { clock, detector, stalls } = setup();
    detector.activity();
    detector.start();
    clock.advance(400);
    expect(stalls).toEqual([400]);
  });

  it('start() restarts the silence; stop() ends the checks', () => {
    const { clock, detector, stalls } = setup();
    clock.advance(1000);
    detector.start();
    detector.start(); // one interval, not two
    expect(clock.pending).toBe(1);
    clock.advance(300);
    expect(stalls).toEqual([]);
    detector.stop();
    clock.advance(10_000);
    expect(stalls).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});

describe('stalledError', () => {
  it('E_SOURCE_STALLED with the silence and three periods', () => {
    const error = stalledError(3456, 1000);
    expect(error.code).toBe('E_SOURCE_STALLED');
    expect(error.message).toBe('no binlog event or heartbeat for 3456 ms (3 periods = 3000 ms)');
    expect(error.details).toEqual({ silentMs: 3456 });
  });
});
