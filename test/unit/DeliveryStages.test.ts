import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryStages } from '../../src/pipeline/DeliveryStages.js';
import type { DispatcherOptions, DispatchStats } from '../../src/pipeline/Dispatcher.js';
import { SluiceError } from '../../src/errors/index.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { ManualClock } from '../helpers/manualClock.js';

// Never connects: the test only reads counters.
const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
afterAll(() => redis.disconnect());

interface Heard {
  pauses: boolean[];
  halts: string[];
  primaryChanges: number;
}

function stages(
  heard: Heard = { pauses: [], halts: [], primaryChanges: 0 },
  extra: Partial<ConstructorParameters<typeof DeliveryStages>[0]> = {},
): DeliveryStages {
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
    onBackpressure: (pause) => heard.pauses.push(pause),
    onHalt: (err) => heard.halts.push(err.code),
    onPrimaryChanged: () => heard.primaryChanges++,
    ...extra,
  });
}

/**
 * The callbacks a dispatcher was built with (what it calls when a round
 * fails or Redis answers as another primary; driving a real failure needs a
 * Redis that errors, which the integration tests do).
 */
function callbacksOf(dispatcher: DeliveryStages['dispatcher']): DispatcherOptions {
  return (dispatcher as unknown as { options: DispatcherOptions }).options;
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
    reporting(d, { rounds: 2, batches: 3, keys: 30, checkpoints: 2, retries: 1, patternKeys: 4 });
    const before = d.stats;
    d.halt(); // a re-stream waits for the new primary here
    expect(d.stats).toEqual(before);
    const old = d.dispatcher;
    d.rebuild(null);
    expect(d.dispatcher).not.toBe(old);
    expect(d.stats).toEqual(before); // the new dispatcher starts at 0
    reporting(d, { rounds: 7, batches: 1, keys: 5, checkpoints: 1, retries: 0, patternKeys: 0 });
    expect(d.stats).toEqual({
      rounds: 9,
      batches: 4,
      keys: 35,
      publishes: 0,
      checkpoints: 3,
      retries: 1,
      patternKeys: 4,
    });
  });

  it('backpressure from a batcher a rebuild retired is ignored; the current one is heard', () => {
    const heard: Heard = { pauses: [], halts: [], primaryChanges: 0 };
    const d = stages(heard);
    const old = d.batcher;
    d.halt();
    d.rebuild(null);
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
    old.add(keys); // over maxInFlightKeys (100): the retired batcher asks to pause
    expect(heard.pauses).toEqual([]);
    d.batcher.add(keys);
    expect(heard.pauses).toEqual([true]);
  });

  it('a halt or primary change from a dispatcher a rebuild retired is ignored; the current one is heard', () => {
    const heard: Heard = { pauses: [], halts: [], primaryChanges: 0 };
    const d = stages(heard);
    const old = callbacksOf(d.dispatcher);
    d.halt();
    d.rebuild(null);
    // A round of the old dispatcher that was still in flight fails or is refused late.
    old.onHalt(new SluiceError('E_REDIS', 'late'));
    old.onPrimaryChanged?.();
    expect(heard).toEqual({ pauses: [], halts: [], primaryChanges: 0 });
    const current = callbacksOf(d.dispatcher);
    current.onHalt(new SluiceError('E_FENCED', 'now'));
    current.onPrimaryChanged?.();
    expect(heard).toEqual({ pauses: [], halts: ['E_FENCED'], primaryChanges: 1 });
  });

  it('halt() stops the dispatcher and starts the bus sequence over; rebuild() keeps that publisher', () => {
    const d = stages();
    const publisher = d.publisher;
    publisher.acked(5);
    expect(publisher.seq).toBe(5);
    const dispatcher = d.dispatcher;
    d.halt();
    expect((dispatcher as unknown as { halted: boolean }).halted).toBe(true);
    expect(publisher.seq).toBe(0); // readers take the lower seq for a restart and clear L1
    d.rebuild(null);
    expect(d.publisher).toBe(publisher);
    expect(callbacksOf(d.dispatcher).publisher).toBe(publisher);
    expect((d.dispatcher as unknown as { halted: boolean }).halted).toBe(false);
  });

  it('rebuild(from) seeds the new writer with the checkpoint the new dataset holds; rebuild(null) does not', () => {
    const d = stages();
    const cp: Checkpoint = {
      position: { file: 'mysql-bin.000007', pos: 1234 },
      gtid: '0-1-99',
      at: '',
    };
    d.rebuild(cp);
    expect(d.writer.stored).toBe(cp);
    d.rebuild(null);
    expect(d.writer.stored).toBeNull();
  });

  it("hands the daemon's onFenced and onAcked to each dispatcher it builds, and none when not given", () => {
    const onFenced = (): Promise<boolean> => Promise.resolve(true);
    const onAcked = (): void => undefined;
    const d = stages(undefined, { onFenced, onAcked });
    expect(callbacksOf(d.dispatcher).onFenced).toBe(onFenced);
    expect(callbacksOf(d.dispatcher).onAcked).toBe(onAcked);
    d.rebuild(null);
    expect(callbacksOf(d.dispatcher).onFenced).toBe(onFenced);
    expect(callbacksOf(d.dispatcher).onAcked).toBe(onAcked);
    const plain = callbacksOf(stages().dispatcher);
    expect('onFenced' in plain).toBe(false);
    expect('onAcked' in plain).toBe(false);
  });

  it('builds every transport with the replica wait (redis.waitReplicas), rebuilds included; none without', () => {
    const waitOf = (d: DeliveryStages): unknown =>
      (callbacksOf(d.dispatcher).transport as unknown as { options: { wait?: unknown } }).options
        .wait;
    const wait = { replicas: 2, timeoutMs: 500 };
    const d = stages(undefined, { wait });
    expect(waitOf(d)).toEqual(wait);
    d.rebuild(null);
    expect(waitOf(d)).toEqual(wait);
    expect(waitOf(stages())).toBe(null);
  });
});
