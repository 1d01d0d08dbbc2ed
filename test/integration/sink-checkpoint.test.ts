import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../../src/pipeline/checkpoint/CheckpointStore.js';
import { position } from '../../src/pipeline/position.js';
import { RedisSink } from '../../src/pipeline/sink/RedisSink.js';
import { randomId } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/** Round trips and checkpoint writes of the sink, on a real Redis. */
describe('RedisSink batching and checkpoint writes', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(() => {
    redis.disconnect();
  });

  function sinkFor(p: string): RedisSink {
    return new RedisSink({
      redis,
      source: p,
      channel: `${p}:channel`,
      batchMaxKeys: 500,
      batchMaxDelayMs: 2,
      maxInFlightKeys: 100_000,
      heartbeatMs: 0,
      checkpointKey: `${p}:checkpoint`,
      logger: pino({ level: 'silent' }),
    });
  }

  async function stored(p: string): Promise<{ position: unknown; at: string | undefined }> {
    const key = `${p}:checkpoint`;
    const cp = decodeCheckpoint((await redis.get(key)) ?? '', key);
    return { position: cp.position, at: cp.at };
  }

  it('a lone transaction goes out at its commit: no batching delay', async () => {
    const p = `ck${randomId()}`;
    const sink = sinkFor(p);
    await redis.set(`${p}:k`, 'v');
    sink.batch.add(`${p}:k`);
    sink.added();
    sink.boundary({ position: position('binlog.000001', 500), gtid: undefined });
    // Sealed and handed to Redis synchronously, not left open for company.
    expect(sink.batch.size).toBe(0);
    await sink.drain();
    expect(await redis.exists(`${p}:k`)).toBe(0);
    const cp = await stored(p);
    expect(cp.position).toEqual(position('binlog.000001', 500));
    // Stamped when written.
    expect(Math.abs(Date.now() - Date.parse(cp.at ?? ''))).toBeLessThan(60_000);
    await sink.close();
    await redis.del(`${p}:checkpoint`);
  });

  it('a stream of 300 transactions shares round trips and checkpoint writes; every key deleted, the last boundary stored', async () => {
    const p = `ck${randomId()}`;
    const sink = sinkFor(p);
    const keys = Array.from({ length: 300 }, (_, i) => `${p}:k:${i}`);
    await redis.mset(...keys.flatMap((k) => [k, 'v']));
    let keptOpen = 0;
    const started = performance.now();
    // A transaction every ~0.2 ms (5,000 a second), longer than a local
    // round trip: sent one by one, each would have a round trip of its own.
    for (let i = 0; i < keys.length; i++) {
      const t = performance.now();
      while (performance.now() - t < 0.2); // the pacing itself, not a wait for a condition
      sink.batch.add(keys[i] as string);
      sink.added();
      sink.boundary({ position: position('binlog.000001', 1000 + i), gtid: undefined });
      if (sink.batch.size > 0) keptOpen++;
      await new Promise((r) => setImmediate(r));
    }
    await sink.drain();
    const elapsedMs = performance.now() - started;
    expect(await redis.exists(...keys)).toBe(0);
    expect((await stored(p)).position).toEqual(position('binlog.000001', 1299));
    // Once commits stream in, a transaction waits for company…
    expect(keptOpen).toBeGreaterThan(200);
    // …so far fewer round trips than transactions…
    expect(sink.stats.batches).toBeLessThan(100);
    // …and the checkpoint is written at most once per 10 ms (plus the first and the drain's).
    expect(sink.stats.checkpoints).toBeLessThanOrEqual(Math.floor(elapsedMs / 10) + 2);
    await sink.close();
    await redis.del(`${p}:checkpoint`);
  });
});
