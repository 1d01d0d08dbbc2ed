import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeCheckpoint } from '../../src/pipeline/checkpoint/CheckpointStore.js';
import { position } from '../../src/pipeline/position.js';
import { RedisSink } from '../../src/pipeline/sink/RedisSink.js';
import { randomId } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/** The checkpoint under a steady stream of small transactions (a real Redis). */
describe('RedisSink checkpoint writes', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(() => {
    redis.disconnect();
  });

  it('a stream of 300 transactions: every key deleted, fewer checkpoint writes than batches, the last boundary stored', async () => {
    const p = `ck${randomId()}`;
    const cpKey = `${p}:checkpoint`;
    const keys = Array.from({ length: 300 }, (_, i) => `${p}:k:${i}`);
    await redis.mset(...keys.flatMap((k) => [k, 'v']));
    const sink = new RedisSink({
      redis,
      source: p,
      channel: `${p}:channel`,
      batchMaxKeys: 500,
      batchMaxDelayMs: 2,
      maxInFlightKeys: 100_000,
      heartbeatMs: 0,
      checkpointKey: cpKey,
      logger: pino({ level: 'silent' }),
    });
    // One transaction per turn of the event loop, as a live binlog delivers them.
    for (let i = 0; i < keys.length; i++) {
      sink.batch.add(keys[i] as string);
      sink.added();
      sink.boundary({ position: position('binlog.000001', 1000 + i), gtid: undefined });
      await new Promise((r) => setImmediate(r));
    }
    await sink.drain();
    expect(await redis.exists(...keys)).toBe(0);
    const stored = decodeCheckpoint((await redis.get(cpKey)) ?? '', cpKey);
    expect(stored.position).toEqual(position('binlog.000001', 1299));
    // Stamped when written.
    expect(Date.now() - Date.parse(stored.at ?? '')).toBeLessThan(60_000);
    // At most one write per 10 ms while batches stream (plus the final one).
    expect(sink.stats.checkpoints).toBeLessThan(sink.stats.batches);
    await sink.close();
    await vi.waitFor(async () => expect(await redis.exists(cpKey)).toBe(1));
    await redis.del(cpKey);
  });
});
