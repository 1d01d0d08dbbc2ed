import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeMessage } from '../../src/bus/codec.js';
import type { SluiceError } from '../../src/errors/index.js';
import { systemClock } from '../../src/infra/clock.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { decodeCheckpoint, type Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { position } from '../../src/pipeline/position.js';
import { assembleStages, type Stages } from '../../src/pipeline/stages.js';
import { randomId } from '../helpers/env.js';
import { plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * The daemon's delivery stages (batcher → single-Redis transport → tracker →
 * writer, and the bus publisher) on a real Redis: outcomes only (the exact
 * keys gone, the exact messages, the exact stored position). The timing
 * rules themselves (streaming, coalescing) are unit-tested with a fake clock.
 */
describe('delivery stages on a single Redis', () => {
  let redis: Redis;
  let sub: Redis;
  const messages: Array<{ channel: string; raw: string }> = [];
  beforeAll(async () => {
    redis = testRedis();
    sub = testRedis();
    sub.on('pmessage', (_p: string, channel: string, raw: string) =>
      messages.push({ channel, raw }),
    );
    await sub.psubscribe('st*:channel');
  });
  afterAll(() => {
    redis.disconnect();
    sub.disconnect();
  });

  const cp = (pos: number): Checkpoint => ({
    position: position('binlog.000001', pos),
    gtid: `0-1-${pos}`,
  });

  function stagesFor(
    p: string,
    extra: { fence?: { key: string; token: () => number }; halted?: SluiceError[] } = {},
  ): Stages {
    return assembleStages({
      redis,
      channel: `${p}:channel`,
      src: p,
      batchMaxKeys: 500,
      batchMaxDelayMs: 2,
      maxInFlightKeys: 100_000,
      heartbeatMs: 0,
      checkpoint: {
        key: RedisKeys.checkpoint(p),
        ...(extra.fence === undefined ? {} : { fence: extra.fence }),
      },
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      onBackpressure: () => undefined,
      onHalt: (err) => extra.halted?.push(err),
    });
  }

  async function stored(p: string): Promise<Checkpoint | null> {
    const raw = await redis.get(RedisKeys.checkpoint(p));
    return raw === null ? null : decodeCheckpoint(raw, 'checkpoint');
  }

  const published = (p: string) =>
    messages
      .filter((m) => m.channel === `${p}:channel`)
      .map((m) => decodeMessage(m.raw))
      .filter((m) => m !== null && m.type === 'inv');

  it('a transaction: its keys and their leases gone, one message naming them, the boundary stored', async () => {
    const p = `st${randomId()}`;
    const keys = [`${p}:user:1`, `${p}:user:email:a@x`];
    await plant(redis, [...keys, ...keys.map((k) => RedisKeys.lease(k))]);
    const s = stagesFor(p);
    s.batcher.add(keys);
    s.batcher.commit(cp(500));
    await s.dispatcher.drain();
    expect(await survivors(redis, [...keys, ...keys.map((k) => RedisKeys.lease(k))])).toEqual([]);
    const stored500 = await stored(p);
    expect(stored500?.position).toEqual(position('binlog.000001', 500));
    expect(stored500?.gtid).toBe('0-1-500');
    await vi.waitFor(() => expect(published(p)).toHaveLength(1));
    expect(published(p)[0]).toMatchObject({ src: p, seq: 1, keys, pos: 'binlog.000001:500' });
    await s.dispatcher.close(1000);
    await redis.del(RedisKeys.checkpoint(p));
  });

  it('300 transactions: every key gone, every key announced once in seq order, the last boundary stored', async () => {
    const p = `st${randomId()}`;
    const keys = Array.from({ length: 300 }, (_, i) => `${p}:k:${i}`);
    await plant(redis, keys);
    const s = stagesFor(p);
    for (const [i, key] of keys.entries()) {
      s.batcher.add([key]);
      s.batcher.commit(cp(1000 + i));
      if (i % 7 === 0) await new Promise((r) => setImmediate(r)); // let rounds overlap commits
    }
    await s.dispatcher.drain();
    expect(await survivors(redis, keys)).toEqual([]);
    expect((await stored(p))?.position).toEqual(position('binlog.000001', 1299));
    const seqs = s.publisher.seq;
    await vi.waitFor(() => expect(published(p)).toHaveLength(seqs));
    const msgs = published(p);
    expect(msgs.map((m) => m?.seq)).toEqual(Array.from({ length: seqs }, (_, i) => i + 1));
    expect(msgs.flatMap((m) => (m?.type === 'inv' ? m.keys : []))).toEqual(keys);
    await s.dispatcher.close(1000);
    await redis.del(RedisKeys.checkpoint(p));
  });

  it('a stale fencing token halts with E_FENCED and leaves the stored checkpoint alone', async () => {
    const p = `st${randomId()}`;
    const fenceKey = RedisKeys.fence(p);
    await redis.set(fenceKey, '8'); // a newer leader took token 8
    await redis.set(RedisKeys.checkpoint(p), JSON.stringify({ file: 'binlog.000001', pos: 400 }));
    const halted: SluiceError[] = [];
    const s = stagesFor(p, { fence: { key: fenceKey, token: () => 7 }, halted });
    s.batcher.add([`${p}:a`]);
    s.batcher.commit(cp(500));
    s.batcher.add([`${p}:b`]);
    s.batcher.commit(cp(600));
    await s.dispatcher.drain();
    expect(halted.map((e) => e.code)).toEqual(['E_FENCED']);
    expect((await stored(p))?.position).toEqual(position('binlog.000001', 400));
    expect(s.writer?.stored).toBe(null);
    // And with the current token the same write goes through.
    const ok = stagesFor(`${p}`, { fence: { key: fenceKey, token: () => 8 } });
    ok.batcher.add([`${p}:a`]);
    ok.batcher.commit(cp(500));
    await ok.dispatcher.drain();
    expect((await stored(p))?.position).toEqual(position('binlog.000001', 500));
    await ok.dispatcher.close(1000);
    await redis.del(RedisKeys.checkpoint(p), fenceKey);
  });

  it('a TRUNCATE flush between batches: keys before, the key space, keys after, in that order; the boundary after it stored', async () => {
    const p = `st${randomId()}`;
    const before = `${p}:user:1`;
    const space = [`${p}:t:1`, `${p}:t:2`, RedisKeys.lease(`${p}:t:3`)];
    const after = `${p}:user:2`;
    await plant(redis, [before, ...space, after]);
    const s = stagesFor(p);
    s.batcher.add([before]);
    s.batcher.commit(cp(100));
    s.batcher.flush([`${p}:t:*`], false, cp(200));
    s.batcher.add([after]);
    s.batcher.commit(cp(300));
    await s.dispatcher.drain();
    expect(await survivors(redis, [before, ...space, after])).toEqual([]);
    expect((await stored(p))?.position).toEqual(position('binlog.000001', 300));
    await vi.waitFor(() => expect(published(p)).toHaveLength(3));
    expect(published(p).map((m) => (m?.type === 'inv' ? [m.keys, m.patterns] : null))).toEqual([
      [[before], []],
      [[], [`${p}:t:*`]],
      [[after], []],
    ]);
    expect(s.dispatcher.stats.patternKeys).toBe(3);
    await s.dispatcher.close(1000);
    await redis.del(RedisKeys.checkpoint(p));
  });
});
