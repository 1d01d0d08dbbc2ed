import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { encodeInvalidation } from '../../src/bus/codec.js';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { FakePublisher, testCache } from '../helpers/cache.js';
import { randomId, testEnv } from '../helpers/env.js';
import { collectMessages, suiteRedis } from '../helpers/redis.js';

/**
 * What the SluiceCache facade itself decides, in process on a real Redis:
 * its writes (this L1 first, then every other process told), its defaults,
 * its lifecycle and the connection it opens for the subscription.
 */
describe('SluiceCache facade (real Redis, fake daemon)', () => {
  const suite = suiteRedis();
  const { open } = suite;

  /** A cache with L1 kept usable by a fake daemon, the bus watched, and a key prefix. */
  async function setup(
    options: Parameters<typeof testCache>[0] extends infer O ? Partial<O> : never = {},
  ) {
    const p = `facade${randomId()}`;
    const channel = `sluice:test:${p}`;
    const pub = new FakePublisher(channel);
    open.push(() => pub.close());
    pub.startHeartbeats(100);
    const t = await testCache({ channel, heartbeatMs: 1000, ...options });
    open.push(t.close);
    if (options.l1 !== false) await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
    const bus = await collectMessages(channel, { heartbeats: false });
    open.push(bus.close);
    return { cache: t.cache, pub, p, channel, bus, subscriber: t.subscriber };
  }

  it('set and writeThrough drop this L1 copy at once and announce the key; set(null) caches "absent"', async () => {
    const { cache, p, bus } = await setup();
    const key = `${p}:user:1`;
    await cache.read(key, () => Promise.resolve('old'));
    expect((await cache.read(key, () => Promise.resolve('x'))).source).toBe('l1');

    expect(await cache.set(key, 'new')).toBe(true);
    expect(await cache.read(key, () => Promise.resolve('x'))).toMatchObject({
      source: 'l2',
      entry: { present: true, value: 'new' },
    });

    expect(await cache.set(key, null)).toBe(true);
    expect(await cache.get(key)).toBeNull();
    expect((await cache.read(key, () => Promise.resolve('x'))).entry).toEqual({ present: false });

    const writes: string[] = [];
    await cache.writeThrough(key, 'through', () => {
      writes.push('db');
      return Promise.resolve();
    });
    expect(writes).toEqual(['db']);
    expect(await cache.read(key, () => Promise.resolve('x'))).toMatchObject({
      source: 'l2',
      entry: { present: true, value: 'through' },
    });

    await vi.waitFor(() => expect(bus.messages.length).toBe(3));
    expect(bus.messages.map((m) => [m.keys, m.seq])).toEqual([
      [[key], 1],
      [[key], 2],
      [[key], 3],
    ]);
  });

  it("writeThrough: the writer takes a reader's lease; a lease removed during the write is a dropped fill; with Redis down only the database is written", async () => {
    const { cache, p } = await setup();
    const held = `${p}:user:2`;
    await suite.redis.set(RedisKeys.lease(held), 'a-reader-filling', 'PX', 10_000);
    await cache.writeThrough(held, 'v', () => Promise.resolve());
    expect(await suite.redis.get(held)).toBe('v"v"');
    expect(cache.stats().fillsDropped).toBe(0);

    const overtaken = `${p}:user:3`;
    await cache.writeThrough(overtaken, 'v', async () => {
      // The daemon invalidates the key while the database write runs.
      await suite.redis.unlink(overtaken, RedisKeys.lease(overtaken));
    });
    expect(await suite.redis.exists(overtaken)).toBe(0);
    expect(cache.stats().fillsDropped).toBe(1);

    // Nobody listens on port 1: every Redis command fails at once.
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false });
    down.on('error', () => undefined);
    const registry = new Registry();
    const offline = new SluiceCache({ redis: down, l1: false, registry });
    open.push(async () => {
      await offline.close();
      down.disconnect();
    });
    const writes: string[] = [];
    await offline.writeThrough(`${p}:user:4`, 'v', () => {
      writes.push('db');
      return Promise.resolve();
    });
    expect(writes).toEqual(['db']);
    expect(offline.stats()).toMatchObject({ fillsDropped: 0, redisErrors: 2 }); // take and publish
    expect(await offline.set(`${p}:user:4`, 'v')).toBe(false); // the lease could not be taken
    expect(await registry.getSingleMetricAsString('sluice_cache_redis_errors_total')).toMatch(
      /^sluice_cache_redis_errors_total 3$/m,
    );
    // Its subscription never came up: close() does not wait on an unsubscribe (BusSubscriber unit tests).
    await offline.close();
    expect(offline.health()).toEqual({ redis: false, subscribed: false, l1Usable: false });
  });

  it("another process's L1 drops a key this one wrote (each cache publishes under an id of its own)", async () => {
    const a = await setup();
    const b = await testCache({ channel: a.channel, heartbeatMs: 1000 });
    open.push(b.close);
    await vi.waitFor(() => expect(b.cache.l1Usable).toBe(true));
    const key = `${a.p}:user:7`;
    await b.cache.read(key, () => Promise.resolve('old'));
    expect((await b.cache.read(key, () => Promise.resolve('x'))).source).toBe('l1');
    await a.cache.set(key, 'new');
    await vi.waitFor(async () =>
      expect((await b.cache.read(key, () => Promise.resolve('x'))).entry).toEqual({
        present: true,
        value: 'new',
      }),
    );
    expect(b.cache.stats().bus.messages).toBe(1);
  });

  it('publishes on sluice:invalidate when no channel is given', async () => {
    const bus = await collectMessages('sluice:invalidate');
    open.push(bus.close);
    const t = await testCache({ channel: undefined as unknown as string });
    open.push(t.close);
    const key = `facade${randomId()}:k`;
    await t.cache.delete(key);
    await vi.waitFor(() => expect(bus.messages.map((m) => m.keys)).toContainEqual([key]));
  });

  it('cacheAsideWithLock: a holder that never fills makes the caller read the database, uncached and counted', async () => {
    const { cache, p } = await setup();
    const key = `${p}:user:8`;
    await suite.redis.set(RedisKeys.lock(key), 'another-process', 'PX', 60_000);
    let loads = 0;
    const value = await cache.cacheAsideWithLock(
      key,
      () => {
        loads++;
        return Promise.resolve('db');
      },
      { waitMs: 30 },
    );
    expect(value).toBe('db');
    expect(loads).toBe(1);
    expect(cache.stats().dbLoads).toBe(1);
    expect(await suite.redis.exists(key)).toBe(0);
    expect(await suite.redis.get(RedisKeys.lock(key))).toBe('another-process');
  });

  it('writeBehind: without a queue it throws before writing; a queue that refuses the job leaves the key deleted', async () => {
    const { cache, p } = await setup();
    const key = `${p}:user:4`;
    const write = { sql: 'UPDATE t SET v = ? WHERE id = ?', params: ['v', 4] };
    await expect(cache.writeBehind(key, 'v', write)).rejects.toThrow(
      'writeBehind needs a WriteBehindSink (SluiceCacheOptions.writeBehind)',
    );
    expect(await suite.redis.exists(key)).toBe(0);

    const refusing = await setup({
      writeBehind: { enqueue: () => Promise.reject(new Error('queue down')) },
    });
    const other = `${refusing.p}:user:5`;
    await expect(refusing.cache.writeBehind(other, 'v', write)).rejects.toThrow('queue down');
    expect(await suite.redis.exists(other, RedisKeys.lease(other))).toBe(0);
    // Set, then deleted: both announced.
    await vi.waitFor(() => expect(refusing.bus.messages.length).toBe(2));
  });

  it('its own messages are skipped by its own subscriber: not applied, not counted, not a gap', async () => {
    const { cache, p } = await setup();
    await cache.delete(`${p}:a`);
    await cache.delete(`${p}:b`);
    // The fake daemon's heartbeat follows on the same connection order: the bus has read past them.
    await vi.waitFor(() => expect(cache.stats().bus.heartbeats).toBeGreaterThan(2));
    expect(cache.stats().bus).toMatchObject({ messages: 0, ignored: 0, gaps: 0, resets: 0 });
  });

  it('without L1 (l1: false): every hit is an L2 hit, 0 entries; resets and patterns from the bus are harmless', async () => {
    const registry = new Registry();
    const { cache, pub, p } = await setup({ l1: false, registry });
    // The daemon's heartbeats are fresh: only the missing L1 keeps reads off it.
    await vi.waitFor(() => expect(cache.stats().bus.heartbeats).toBeGreaterThan(0));
    expect(cache.health().subscribed).toBe(true);
    expect(cache.l1Usable).toBe(false);
    const key = `${p}:user:6`;
    await cache.read(key, () => Promise.resolve('v'));
    expect((await cache.read(key, () => Promise.resolve('x'))).source).toBe('l2');
    expect(await registry.getSingleMetricAsString('sluice_cache_l1_entries')).toMatch(
      /^sluice_cache_l1_entries 0$/m,
    );
    await pub.publishRaw(encodeInvalidation(pub.src, ++pub.seq, { patterns: [`${p}:*`] }));
    await pub.publishRaw(encodeInvalidation(pub.src, ++pub.seq, { flush: true }));
    await vi.waitFor(() => expect(cache.stats().bus.messages).toBe(2));
    // The flush is counted as a reset; there was no L1 to clear.
    expect(cache.stats()).toMatchObject({ l1Entries: 0, l1Resets: 1 });
  });

  it('requireHeartbeat: false serves L1 with no daemon at all', async () => {
    const channel = `sluice:test:nodaemon${randomId()}`;
    const t = await testCache({ channel, requireHeartbeat: false });
    open.push(t.close);
    await t.cache.read(`${channel}:k`, () => Promise.resolve(1));
    expect((await t.cache.read(`${channel}:k`, () => Promise.resolve(2))).source).toBe('l1');
  });

  it('fences reads by the source "main" and waits for its watermark by default', async () => {
    const p = `facade${randomId()}`;
    const channel = `sluice:test:${p}`;
    const pub = new FakePublisher(channel, 'main');
    open.push(() => pub.close());
    pub.startHeartbeats(100);
    const t = await testCache({ channel, heartbeatMs: 1000 });
    open.push(t.close);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
    await pub.invalidateUpTo([], { gtid: '7-1-1' });
    await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBe(1));
    expect(
      (await t.cache.read(`${p}:k`, () => Promise.resolve(1), { after: '7-1-1' })).source,
    ).toBe('miss');
    // Ahead of the watermark: the read waits (up to 1 s by default) for the message that passes it.
    const pending = t.cache.read(`${p}:k`, () => Promise.resolve(2), { after: '7-1-2' });
    await pub.invalidateUpTo([], { gtid: '7-1-2' });
    expect((await pending).source).not.toBe('fenced');
    expect(t.cache.stats().fenced).toEqual({ passed: 1, waited: 1, database: 0 });
  });

  describe('the subscription it opens itself', () => {
    /** A cache built as an application would: only a command client given. */
    async function ownCache(client: Redis, channel: string): Promise<SluiceCache> {
      const cache = new SluiceCache({ redis: client, channel, requireHeartbeat: false });
      open.push(async () => {
        await cache.close();
        client.disconnect();
      });
      await cache.start();
      return cache;
    }

    const subscribers = async (channel: string): Promise<number> =>
      ((await suite.redis.pubsub('NUMSUB', channel)) as [string, number])[1];

    it('is queued until connected even when the command client has no offline queue; start and close are idempotent', async () => {
      const channel = `sluice:test:own${randomId()}`;
      const client = new Redis(testEnv.redisUrl, { enableOfflineQueue: false, lazyConnect: true });
      const cache = await ownCache(client, channel);
      expect(cache.health()).toEqual({ redis: false, subscribed: true, l1Usable: true });
      await cache.start();
      expect(await subscribers(channel)).toBe(1);
      expect(cache.stats().bus.resets).toBe(0);
      await cache.close();
      await cache.close();
      expect(cache.health().subscribed).toBe(false);
      await vi.waitFor(async () => expect(await subscribers(channel)).toBe(0));
    });

    it('health() reports the command client, the subscription and L1', async () => {
      const channel = `sluice:test:own${randomId()}`;
      const client = new Redis(testEnv.redisUrl);
      const cache = await ownCache(client, channel);
      await vi.waitFor(() =>
        expect(cache.health()).toEqual({ redis: true, subscribed: true, l1Usable: true }),
      );
    });

    it('close() disconnects the connection it opened, and never one it was given', async () => {
      const { cache, subscriber } = await setup();
      await cache.close();
      expect(await (subscriber as Redis).ping()).toBe('PONG'); // still connected: not the cache's to close

      // The subscription connection is a duplicate of the client: it has the client's name.
      const name = `own-${randomId()}`;
      const client = new Redis(testEnv.redisUrl, { connectionName: name });
      const own = await ownCache(client, `sluice:test:${name}`);
      const clients = async (): Promise<number> =>
        ((await suite.redis.client('LIST')) as string)
          .split('\n')
          .filter((l) => l.includes(`name=${name} `)).length;
      await vi.waitFor(async () => expect(await clients()).toBe(2));
      await own.close();
      await vi.waitFor(async () => expect(await clients()).toBe(1)); // the command client only
    });
  });
});
