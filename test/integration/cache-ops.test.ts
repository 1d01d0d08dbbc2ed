import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { FakePublisher, gate, testCache } from '../helpers/cache.js';
import { randomId } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';

/** The cache's operations against a real Redis, each asserting exact Redis contents. */
describe('SluiceCache operations', () => {
  let redis: Redis;
  let channel: string;
  let p: string;
  let pub: FakePublisher;
  const open: Array<() => Promise<void>> = [];

  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(() => {
    redis.disconnect();
  });
  afterEach(async () => {
    pub.close();
    for (const close of open.splice(0)) await close();
  });

  async function cache(
    opts: Parameters<typeof testCache>[0] extends infer O ? Partial<O> : never = {},
  ) {
    p = `ops${randomId()}`;
    channel = `sluice:test:${p}`;
    pub = new FakePublisher(channel);
    pub.startHeartbeats(100);
    // The fake beats every 100 ms; the cache tolerates 3 s of silence, so a
    // stall of a loaded machine does not bypass L1 in a test about something else.
    const t = await testCache({ channel, heartbeatMs: 1000, ...opts });
    open.push(t.close);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(opts.l1 === false ? false : true));
    return t.cache;
  }

  it('read: miss loads once and fills L2 and L1; then l1; negative entries are cached', async () => {
    const c = await cache();
    let loads = 0;
    const load = (): Promise<{ n: number }> => Promise.resolve({ n: ++loads });
    expect((await c.read(`${p}:a`, load)).source).toBe('miss');
    expect(await redis.get(`${p}:a`)).toBe('v{"n":1}');
    expect(await redis.exists(RedisKeys.lease(`${p}:a`))).toBe(0);
    const second = await c.read(`${p}:a`, load);
    expect(second.source).toBe('l1');
    expect(second.json).toBe('{"n":1}');
    expect(loads).toBe(1);

    expect(await c.getOrSet(`${p}:none`, () => Promise.resolve(null))).toBe(null);
    expect(await redis.get(`${p}:none`)).toBe('n');
    // The negative TTL (60 s by default), not -1 (no TTL) nor a value's 5 min.
    const negativeTtl = await redis.pttl(`${p}:none`);
    expect(negativeTtl).toBeGreaterThan(55_000);
    expect(negativeTtl).toBeLessThanOrEqual(60_000);
    expect(await c.get(`${p}:none`)).toBe(null);
    expect(await c.get(`${p}:never`)).toBe(undefined);
  });

  it('L2 TTL carries up to 10 % jitter', async () => {
    const c = await cache({ l1: false, ttlMs: 100_000 });
    for (let i = 0; i < 20; i++) await c.getOrSet(`${p}:t${i}`, () => Promise.resolve(i));
    const ttls = await Promise.all(Array.from({ length: 20 }, (_, i) => redis.pttl(`${p}:t${i}`)));
    expect(Math.min(...ttls)).toBeGreaterThan(95_000);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(110_000);
    expect(new Set(ttls).size).toBeGreaterThan(1);
  });

  it('getMany: L1, then one MGET, then one load for the rest; absent ones cached negative', async () => {
    const c = await cache();
    await plant(redis, [`${p}:m2`], 'v{"id":2}');
    await c.getOrSet(`${p}:m1`, () => Promise.resolve({ id: 1 }));
    const asked: string[][] = [];
    const res = await c.readMany([`${p}:m1`, `${p}:m2`, `${p}:m3`, `${p}:m4`], (missing) => {
      asked.push([...missing]);
      return Promise.resolve(new Map([[`${p}:m3`, { id: 3 }]]));
    });
    expect(asked).toEqual([[`${p}:m3`, `${p}:m4`]]);
    expect([...res].map(([k, r]) => [k, r.source, r.entry.present ? r.entry.value : null])).toEqual(
      [
        [`${p}:m1`, 'l1', { id: 1 }],
        [`${p}:m2`, 'l2', { id: 2 }],
        [`${p}:m3`, 'miss', { id: 3 }],
        [`${p}:m4`, 'miss', null],
      ],
    );
    expect(await redis.mget(`${p}:m3`, `${p}:m4`)).toEqual(['v{"id":3}', 'n']);
  });

  it('cacheAsideWithLock: one loader among concurrent callers; the lock is released by its owner only', async () => {
    const c = await cache({ l1: false });
    let loads = 0;
    const release = gate();
    const loader = async (): Promise<string> => {
      loads++;
      await release.promise;
      return 'value';
    };
    const calls = Array.from({ length: 10 }, () =>
      c.cacheAsideWithLock(`${p}:lk`, loader, { waitMs: 5000 }),
    );
    await vi.waitFor(async () => expect(await redis.exists(RedisKeys.lock(`${p}:lk`))).toBe(1));
    release.open();
    expect(await Promise.all(calls)).toEqual(Array(10).fill('value'));
    expect(loads).toBe(1);
    expect(await redis.exists(RedisKeys.lock(`${p}:lk`))).toBe(0);

    // A lock held by someone else is not released by us: we wait, then read the database without filling.
    await redis.set(RedisKeys.lock(`${p}:other`), 'someone-else', 'PX', 10_000);
    expect(
      await c.cacheAsideWithLock(`${p}:other`, () => Promise.resolve('db'), { waitMs: 100 }),
    ).toBe('db');
    expect(await redis.get(RedisKeys.lock(`${p}:other`))).toBe('someone-else');
    expect(await redis.get(`${p}:other`)).toBe(null);
  });

  it('writeThrough: database first, then the lease-guarded write; a reader fill racing it cannot land', async () => {
    const c = await cache({ l1: false });
    const key = `${p}:wt`;
    let db = 'v0';
    // A reader takes the lease and loads v0 …
    const readDone = gate();
    const release = gate();
    const reading = c.read(key, async () => {
      const v = db;
      readDone.open();
      await release.promise;
      return v;
    });
    await readDone.promise;
    // … a writer writes v1 through …
    await c.writeThrough(key, 'v1', () => {
      db = 'v1';
      return Promise.resolve();
    });
    expect(await redis.get(key)).toBe('v"v1"');
    // … and the reader's late fill of v0 is refused.
    release.open();
    await reading;
    expect(await redis.get(key)).toBe('v"v1"');
    expect(c.stats().fillsDropped).toBe(1);
  });

  it('delete, deleteMany and invalidatePattern remove keys and leases and tell other processes', async () => {
    const c = await cache();
    const bus = await collectMessages(channel, { heartbeats: false });
    await plant(redis, [
      `${p}:d1`,
      `${p}:d2`,
      RedisKeys.lease(`${p}:d1`),
      `${p}:x:1`,
      `${p}:x:2`,
      `${p}:y:1`,
    ]);
    await c.delete(`${p}:d1`);
    await c.deleteMany([`${p}:d2`]);
    expect(await c.invalidatePattern(`${p}:x:*`)).toBe(2);
    expect(
      await survivors(redis, [
        `${p}:d1`,
        `${p}:d2`,
        RedisKeys.lease(`${p}:d1`),
        `${p}:x:1`,
        `${p}:x:2`,
      ]),
    ).toEqual([]);
    expect(await survivors(redis, [`${p}:y:1`])).toEqual([`${p}:y:1`]);
    await vi.waitFor(() => expect(bus.messages.length).toBe(3));
    expect(bus.messages.map((m) => [m.keys, m.patterns, m.seq])).toEqual([
      [[`${p}:d1`], undefined, 1],
      [[`${p}:d2`], undefined, 2],
      [undefined, [`${p}:x:*`], 3],
    ]);
    await bus.close();
  });

  it('bus messages evict L1 keys and patterns; malformed messages are ignored and counted', async () => {
    const c = await cache();
    await c.getOrSet(`${p}:k1`, () => Promise.resolve(1));
    await c.getOrSet(`${p}:pat:1`, () => Promise.resolve(2));
    await c.getOrSet(`${p}:keep`, () => Promise.resolve(3));
    await redis.publish(channel, 'not json');
    await redis.publish(channel, JSON.stringify({ v: 2, src: 'x', seq: 1 }));
    await pub.invalidate([`${p}:k1`]);
    await redis.publish(
      channel,
      JSON.stringify({ v: 1, src: pub.src, seq: 2, patterns: [`${p}:pat:*`] }),
    );
    pub.seq = 2;
    await vi.waitFor(() => expect(c.stats().bus.messages).toBe(2));
    expect(c.stats().bus.ignored).toBe(2);
    expect(c.stats().bus.gaps).toBe(0);
    expect((await c.read(`${p}:k1`, () => Promise.resolve(9))).source).not.toBe('l1');
    expect((await c.read(`${p}:pat:1`, () => Promise.resolve(9))).source).not.toBe('l1');
    expect((await c.read(`${p}:keep`, () => Promise.resolve(9))).source).toBe('l1');
  });

  it('L1 is bypassed without a daemon heartbeat and cleared when heartbeats stop', async () => {
    const c = await cache({ heartbeatMs: 100 });
    await c.getOrSet(`${p}:hb`, () => Promise.resolve(1));
    expect((await c.read(`${p}:hb`, () => Promise.resolve(1))).source).toBe('l1');
    pub.close(); // the daemon goes silent
    await vi.waitFor(() => expect(c.l1Usable).toBe(false), { timeout: 2000 });
    expect(c.stats().l1Entries).toBe(0);
    expect((await c.read(`${p}:hb`, () => Promise.resolve(1))).source).toBe('l2');
  });

  it('stats: hit rate, per-level counters and Prometheus metrics', async () => {
    const registry = new Registry();
    const c = await cache({ registry });
    await c.getOrSet(`${p}:s`, () => Promise.resolve(1)); // l1 miss, l2 miss, db load
    await c.getOrSet(`${p}:s`, () => Promise.resolve(1)); // l1 hit
    const s = c.stats();
    expect([s.hits.l1, s.misses.l1, s.hits.l2, s.misses.l2, s.dbLoads]).toEqual([1, 1, 0, 1, 1]);
    expect(c.hitRate()).toBe(0.5);
    const text = await registry.metrics();
    expect(text).toContain('sluice_cache_hits_total{level="l1"} 1');
    expect(text).toContain('sluice_cache_db_loads_total 1');
  });
});

describe('cacheFromConfig', () => {
  it('builds a working cache from the daemon configuration, with a write-behind queue', async () => {
    const { validateConfig } = await import('../../src/config/schema.js');
    const { cacheFromConfig } = await import('../../src/cli/cacheFromConfig.js');
    const source = `cfg${randomId()}`;
    const config = validateConfig({
      source: { name: source, url: 'mysql://u:p@127.0.0.1:1/x' },
      redis: { url: process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6380' },
      invalidation: { channel: `sluice:test:${source}` },
      rules: [{ table: 'a.b', keys: ['k:{id}'] }],
    });
    const redis = testRedis();
    const built = await cacheFromConfig(config, { l1: false });
    const cache = built.cache;
    try {
      expect(await cache.getOrSet(`${source}:k`, () => Promise.resolve({ a: 1 }))).toEqual({
        a: 1,
      });
      expect(await redis.get(`${source}:k`)).toBe('v{"a":1}');
      await cache.writeBehind(
        `${source}:w`,
        { b: 2 },
        { sql: 'UPDATE t SET b = ? WHERE id = ?', params: [2, 1] },
      );
      expect(await redis.get(`${source}:w`)).toBe('v{"b":2}');
      const waiting = await redis.llen(`${RedisKeys.jobsPrefix(source)}:write-behind:wait`);
      expect(waiting).toBe(1);
    } finally {
      await built.close();
      redis.disconnect();
    }
  });
});
