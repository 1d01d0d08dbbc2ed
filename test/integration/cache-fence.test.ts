import { describe, expect, it, vi } from 'vitest';
import { parseFenceToken } from '../../src/bus/Watermark.js';
import { SluiceError } from '../../src/errors/index.js';
import { FakePublisher, testCache } from '../helpers/cache.js';
import { randomId } from '../helpers/env.js';
import { suiteRedis } from '../helpers/redis.js';

/**
 * Read your own writes in the cache facade, in process: a fake daemon on a
 * real Redis moves the watermark of its `src`, and each read's fence token
 * is answered by the cache (passed, or waited for) or by the loader without
 * caching (the watermark did not pass it in time). The daemon end to end is
 * read-your-writes.test.ts; this file is fast enough for the mutation run.
 */
describe('SluiceCache fenced reads (fake daemon, real Redis)', () => {
  const suite = suiteRedis();
  const { open } = suite;

  /** A cache fenced by `src`'s watermark, L1 usable, and the prefix of its keys. */
  async function setup(fenceWaitMs = 5000) {
    const p = `fence${randomId()}`;
    const channel = `sluice:test:${p}`;
    const pub = new FakePublisher(channel, `main-${p}`);
    open.push(() => pub.close());
    pub.startHeartbeats(100);
    // Beats every 100 ms, 3 s of silence tolerated: L1 stays usable through a stall.
    const t = await testCache({ channel, heartbeatMs: 1000, fenceSource: pub.src, fenceWaitMs });
    open.push(t.close);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
    // The daemon has invalidated up to 0-1-10.
    await pub.invalidateUpTo([`${p}:unrelated`], { gtid: '0-1-10', pos: 'binlog.000002:500' });
    await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBe(1));
    return { cache: t.cache, pub, p };
  }

  /** A loader that counts its calls. */
  function counting<T>(value: T): { load: () => Promise<T>; calls: () => number } {
    let n = 0;
    return {
      load: () => {
        n++;
        return Promise.resolve(value);
      },
      calls: () => n,
    };
  }

  it('a token the watermark has passed is answered by the cache at once (GTID, position or parsed token)', async () => {
    const { cache, p } = await setup();
    const key = `${p}:user:1`;
    await cache.read(key, () => Promise.resolve({ id: 1, name: 'cached' }));
    const loader = counting({ id: 1, name: 'database' });
    for (const after of ['0-1-9', '0-1-10', 'binlog.000002:500', parseFenceToken('0-1-3')]) {
      const r = await cache.read(key, loader.load, { after });
      expect(r.source).toBe('l1');
      expect(r.entry).toEqual({ present: true, value: { id: 1, name: 'cached' } });
    }
    expect(await cache.getOrSet(key, loader.load, { after: '0-1-10' })).toEqual({
      id: 1,
      name: 'cached',
    });
    expect(await cache.get(key, { after: '0-1-10' })).toEqual({ id: 1, name: 'cached' });
    expect(loader.calls()).toBe(0);
    expect(cache.stats().fenced).toEqual({ passed: 6, waited: 0, database: 0 });
    expect(cache.stats().dbLoads).toBe(1); // the first, unfenced read's
  });

  it('a token ahead of the watermark waits for the message that passes it, then reads through the cache', async () => {
    const { cache, pub, p } = await setup();
    const key = `${p}:user:2`;
    await cache.read(key, () => Promise.resolve('old'));
    const loader = counting('new');
    // The waiter is registered before read() returns; the message comes after.
    const pending = cache.read(key, loader.load, { after: '0-1-11' });
    // As the daemon does: the key is gone from Redis before the message announces it.
    await suite.redis.unlink(key);
    await pub.invalidateUpTo([key], { gtid: '0-1-11' });
    const r = await pending;
    // The message evicted the key before the watermark counted: the read loads the new value.
    expect(r.source).toBe('miss');
    expect(r.entry).toEqual({ present: true, value: 'new' });
    expect(loader.calls()).toBe(1);
    expect(cache.stats().fenced).toEqual({ passed: 0, waited: 1, database: 0 });
    // It went through the cache: filled, so the next read is an L1 hit.
    expect((await cache.read(key, loader.load)).source).toBe('l1');
  });

  it('a token the watermark does not pass in time is read from the database and nothing is cached', async () => {
    const { cache, p } = await setup(50);
    const key = `${p}:user:3`;
    await cache.read(key, () => Promise.resolve('old'));
    const loader = counting('new');
    const r = await cache.read(key, loader.load, { after: '0-1-11' });
    expect(r).toEqual({ entry: { present: true, value: 'new' }, json: null, source: 'fenced' });
    expect(loader.calls()).toBe(1);
    expect(cache.stats().fenced).toEqual({ passed: 0, waited: 0, database: 1 });
    expect(cache.stats().dbLoads).toBe(2);
    // The old value stays where it was (the daemon's delete is what removes it), not replaced.
    expect((await cache.read(key, () => Promise.resolve('x'))).entry).toEqual({
      present: true,
      value: 'old',
    });
    // A fenced-off miss is not cached either, and a loader that finds nothing answers absent.
    const absentKey = `${p}:user:4`;
    const none = await cache.read(absentKey, () => Promise.resolve(null), { after: '0-1-12' });
    expect(none).toEqual({ entry: { present: false }, json: null, source: 'fenced' });
    expect(await suite.redis.exists(absentKey)).toBe(0);
    expect(await cache.getOrSet(absentKey, () => Promise.resolve('db'), { after: '0-1-12' })).toBe(
      'db',
    );
    expect(await suite.redis.exists(absentKey)).toBe(0);
    // get never loads: fenced off, it reports "not cached".
    expect(await cache.get(key, { after: '0-1-12' })).toBeUndefined();
    expect(cache.stats().fenced).toEqual({ passed: 0, waited: 0, database: 4 });
  });

  it("another daemon's watermark does not pass a token of the fence source", async () => {
    const { cache, pub, p } = await setup(50);
    const other = new FakePublisher(pub.channel, `other-${p}`);
    open.push(() => other.close());
    await other.invalidateUpTo([`${p}:unrelated:2`], { gtid: '0-1-99' });
    await vi.waitFor(() => expect(cache.stats().bus.messages).toBe(2));
    const r = await cache.read(`${p}:user:5`, () => Promise.resolve('db'), { after: '0-1-20' });
    expect(r.source).toBe('fenced');
  });

  it('readMany and getMany: through the cache once passed; every key from loadMany, uncached, when not', async () => {
    const { cache, p } = await setup(50);
    const keys = [`${p}:user:6`, `${p}:user:7`, `${p}:user:8`];
    await cache.read(keys[0] as string, () => Promise.resolve('six'));
    const asked: string[][] = [];
    const loadMany = (ks: readonly string[]): Promise<Map<string, string>> => {
      asked.push([...ks]);
      return Promise.resolve(new Map(ks.filter((k) => !k.endsWith(':8')).map((k) => [k, `db`])));
    };
    const fencedOff = await cache.readMany(keys, loadMany, { after: '0-1-11' });
    expect(asked).toEqual([keys]);
    expect([...fencedOff.values()]).toEqual([
      { entry: { present: true, value: 'db' }, json: null, source: 'fenced' },
      { entry: { present: true, value: 'db' }, json: null, source: 'fenced' },
      { entry: { present: false }, json: null, source: 'fenced' },
    ]);
    expect(await suite.redis.exists(keys[1] as string, keys[2] as string)).toBe(0);
    expect(cache.stats().dbLoads).toBe(1 + 3);
    expect(cache.stats().fenced).toEqual({ passed: 0, waited: 0, database: 1 });

    asked.length = 0;
    const passed = await cache.getMany(keys, loadMany, { after: '0-1-10' });
    expect(asked).toEqual([[keys[1], keys[2]]]); // the cached one came from L1
    expect([...passed]).toEqual([
      [keys[0], 'six'],
      [keys[1], 'db'],
      [keys[2], null],
    ]);
    expect(await suite.redis.exists(keys[1] as string, keys[2] as string)).toBe(2);
    expect(cache.stats().fenced).toEqual({ passed: 1, waited: 0, database: 1 });
  });

  it('a token that does not parse throws E_FENCE_TOKEN_INVALID from every read, before any load', async () => {
    const { cache, p } = await setup();
    const loader = counting('x');
    const reads = [
      () => cache.read(`${p}:k`, loader.load, { after: 'not-a-token' }),
      () => cache.get(`${p}:k`, { after: 'not-a-token' }),
      () => cache.readMany([`${p}:k`], () => Promise.resolve(new Map()), { after: 'nope' }),
    ];
    for (const read of reads) {
      const err = await read().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SluiceError);
      expect((err as SluiceError).code).toBe('E_FENCE_TOKEN_INVALID');
    }
    expect(loader.calls()).toBe(0);
    expect(cache.stats().fenced).toEqual({ passed: 0, waited: 0, database: 0 });
  });
});
