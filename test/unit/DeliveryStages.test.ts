import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryStages } from '../../src/pipeline/DeliveryStages.js';
import type { DispatchStats } from '../../src/pipeline/Dispatcher.js';
import { ManualClock } from '../helpers/manualClock.js';

// Never connects: the test only reads counters.
const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
afterAll(() => redis.disconnect());

function stages(pauses: boolean[] = []): DeliveryStages {
  return new DeliveryStages({
    redis,
    src: 'test',
    invalidation: {
      channel: 'sluice:test',
      batchMaxKeys: 10,
      batchMaxDelayMs: 2,
      maxInFlightKeys: 100,
      heartbeatMs: 0,
    },
    checkpoint: { key: 'sluice:checkpoint:test' },
    wait: null,
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
    onBackpressure: (pause) => pauses.push(pause),
    onHalt: () => undefined,
    onPrimaryChanged: () => undefined,
  });
}

/** Makes the current dispatcher report `counts` (its real counters move only with Redis). */
function reporting(d: DeliveryStages, counts: Omit<DispatchStats, 'publishes'>): void {
  Object.defineProperty(d.dispatcher, 'stats', {
    get: (): DispatchStats => ({ ...counts, publishes: 0 }),
  });
}

describe('DeliveryStages counters across a re-stream', () => {
  it('a halted dispatcher is counted once while it waits, and once after the rebuild', () => {
    const d = stages();
    reporting(d, { batches: 3, keys: 30, checkpoints: 2, retries: 1, patternKeys: 4 });
    const before = d.stats;
    d.halt(); // a re-stream waits for the new primary here
    expect(d.stats).toEqual(before);
    const old = d.dispatcher;
    d.rebuild(null);
    expect(d.dispatcher).not.toBe(old);
    expect(d.stats).toEqual(before); // the new dispatcher starts at 0
    reporting(d, { batches: 1, keys: 5, checkpoints: 1, retries: 0, patternKeys: 0 });
    expect(d.stats).toEqual({
      batches: 4,
      keys: 35,
      publishes: 0,
      checkpoints: 3,
      retries: 1,
      patternKeys: 4,
    });
  });

  it('backpressure from a batcher a rebuild retired is ignored; the current one is heard', () => {
    const pauses: boolean[] = [];
    const d = stages(pauses);
    const old = d.batcher;
    d.halt();
    d.rebuild(null);
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
    old.add(keys); // over maxInFlightKeys (100): the retired batcher asks to pause
    expect(pauses).toEqual([]);
    d.batcher.add(keys);
    expect(pauses).toEqual([true]);
  });
});
