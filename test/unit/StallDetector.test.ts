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

  it('activity (an event or a server heartbeat) starts the silence over', () => {
    const { clock, detector, stalls } = setup();
    detector.start();
    clock.advance(250);
    detector.activity(); // at 250: the checks at 300…500 see 50…250 ms of silence
    clock.advance(300);
    expect(stalls).toEqual([]);
    clock.advance(100); // the check at 600 sees 350 ms
    expect(stalls).toEqual([350]);
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
