import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/infra/clock.js';
import { CacheStats } from '../../src/cache/CacheStats.js';
import { FillTracker } from '../../src/cache/FillTracker.js';
import { LocalCache } from '../../src/cache/LocalCache.js';
import { FULL_PROTECTION, type Protections } from '../../src/cache/protections.js';
import { ReadThrough, type CacheRead } from '../../src/cache/ReadThrough.js';
import { RemoteCache } from '../../src/cache/RemoteCache.js';
import { TtlPolicy } from '../../src/cache/TtlPolicy.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { gate, protectionsWithout } from '../helpers/cache.js';
import { randomId } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/**
 * The read path on a real Redis, with its races made deterministic: a loader
 * that waits on a gate, and the daemon's delete played by the test (UNLINK of
 * the key and its lease, then the L1 eviction the bus message would bring).
 * Each protection is run with and without it.
 */
describe('ReadThrough (real Redis)', () => {
  let redis: Redis;
  let down: Redis;
  const open: Redis[] = [];

  beforeAll(async () => {
    redis = testRedis();
    // A client that has given up: every command of it fails at once.
    down = testRedis();
    await down.quit();
  });
  afterAll(() => {
    redis.disconnect();
    for (const r of open) r.disconnect();
  });

  interface Setup {
    rt: ReadThrough;
    l2: RemoteCache;
    l1: LocalCache | null;
    fills: FillTracker;
    stats: CacheStats;
    p: string;
    usable: { value: boolean };
    /** What the daemon does for `keys`: UNLINK them and their leases, then evict L1. */
    daemonDeletes(keys: string[]): Promise<void>;
  }

  function setup(
    options: {
      l1?: boolean;
      protections?: Protections;
      leaseWaitMs?: number;
      leaseMs?: number;
      client?: Redis;
      clock?: Clock;
    } = {},
  ): Setup {
    const p = `rt${randomId()}`;
    const l1 = options.l1 === false ? null : new LocalCache();
    const fills = new FillTracker();
    const stats = new CacheStats(undefined, { l1Entries: () => 0, redisErrors: () => 0 });
    const usable = { value: true };
    const l2 = new RemoteCache(
      options.client ?? redis,
      pino({ level: 'silent' }),
      options.leaseMs ?? 2000,
    );
    const rt = new ReadThrough({
      l1,
      l2,
      fills,
      stats,
      l1Usable: () => usable.value,
      ttl: new TtlPolicy({ ttlMs: 60_000, jitter: 0, negativeTtlMs: 5000 }),
      leaseWaitMs: options.leaseWaitMs ?? 500,
      ...(options.protections === undefined ? {} : { protections: options.protections }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    return {
      rt,
      l2,
      l1,
      fills,
      stats,
      p,
      usable,
      daemonDeletes: async (keys) => {
        await redis.unlink(...keys.flatMap((k) => [k, RedisKeys.lease(k)]));
        fills.invalidateKeys(keys);
        for (const k of keys) l1?.delete(k);
      },
    };
  }

  const value = <T>(r: CacheRead<T> | undefined): [string | undefined, T | null | undefined] => [
    r?.source,
    r === undefined ? undefined : r.entry.present ? r.entry.value : null,
  ];

  describe('single reads', () => {
    it('miss → load → L2 (exact entry and TTL) and L1; then l1; negative entries too', async () => {
      const s = setup();
      let loads = 0;
      const r1 = await s.rt.read(`${s.p}:a`, () => Promise.resolve({ n: ++loads }));
      expect([r1.source, r1.json, r1.entry]).toEqual([
        'miss',
        '{"n":1}',
        { present: true, value: { n: 1 } },
      ]);
      expect(await redis.get(`${s.p}:a`)).toBe('v{"n":1}');
      const pttl = await redis.pttl(`${s.p}:a`);
      expect(pttl).toBeGreaterThan(59_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
      expect(await redis.exists(RedisKeys.lease(`${s.p}:a`))).toBe(0);
      expect(s.l1?.get(`${s.p}:a`)).toEqual({
        entry: { present: true, value: { n: 1 } },
        json: '{"n":1}',
      });
      const r2 = await s.rt.read(`${s.p}:a`, () => Promise.resolve({ n: ++loads }));
      expect([r2.source, r2.json, loads]).toEqual(['l1', '{"n":1}', 1]);

      const none = await s.rt.read(`${s.p}:none`, () => Promise.resolve(undefined));
      expect([none.source, none.json, none.entry]).toEqual(['miss', null, { present: false }]);
      expect(await redis.get(`${s.p}:none`)).toBe('n');
      const npttl = await redis.pttl(`${s.p}:none`);
      expect(npttl).toBeGreaterThan(4000);
      expect(npttl).toBeLessThanOrEqual(5000);
      expect((await s.rt.read(`${s.p}:none`, () => Promise.resolve(1))).source).toBe('l1');
      expect({ ...s.stats }).toMatchObject({
        hitsL1: 2,
        missesL1: 2,
        hitsL2: 0,
        missesL2: 2,
        dbLoads: 2,
      });
      expect(s.fills.size).toBe(0); // every fill ended

      // A loader's null is "no such row" too.
      const nul = await s.rt.read(`${s.p}:null`, () => Promise.resolve(null));
      expect([nul.source, nul.entry]).toEqual(['miss', { present: false }]);
      expect(await redis.get(`${s.p}:null`)).toBe('n');
    });

    it('an L2 hit is stored in L1; a per-read ttlMs sets the L2 lifetime', async () => {
      const s = setup();
      await redis.set(`${s.p}:b`, 'v[1,2]');
      const r = await s.rt.read(`${s.p}:b`, () => Promise.resolve('never'));
      expect([r.source, r.json, r.entry]).toEqual([
        'l2',
        '[1,2]',
        { present: true, value: [1, 2] },
      ]);
      expect((await s.rt.read(`${s.p}:b`, () => Promise.resolve('never'))).source).toBe('l1');
      expect([s.stats.hitsL2, s.stats.dbLoads]).toEqual([1, 0]);
      expect(s.fills.size).toBe(0);

      // An L2 hit costs one GET: the lease script runs only on a miss.
      const leaseGet = vi.spyOn(s.l2, 'leaseGet');
      s.l1?.clear();
      expect((await s.rt.read(`${s.p}:b`, () => Promise.resolve('never'))).source).toBe('l2');
      expect(leaseGet).not.toHaveBeenCalled();

      await s.rt.read(`${s.p}:ttl`, () => Promise.resolve(1), { ttlMs: 3000 });
      const pttl = await redis.pttl(`${s.p}:ttl`);
      expect(pttl).toBeGreaterThan(2000);
      expect(pttl).toBeLessThanOrEqual(3000);
    });

    it('a foreign L2 value is a miss: loaded and replaced', async () => {
      const s = setup();
      await redis.set(`${s.p}:f`, 'garbage');
      const r = await s.rt.read(`${s.p}:f`, () => Promise.resolve('row'));
      expect(value(r)).toEqual(['miss', 'row']);
      // The GET saw a value, so no lease was taken and nothing is written.
      expect(await redis.get(`${s.p}:f`)).toBe('garbage');
    });

    it('is single-flight per key: concurrent reads share one load', async () => {
      const s = setup();
      const g = gate();
      let loads = 0;
      const loader = async (): Promise<string> => {
        loads++;
        await g.promise;
        return 'v';
      };
      const reads = [1, 2, 3].map(() => s.rt.read(`${s.p}:sf`, loader));
      const other = s.rt.read(`${s.p}:sf2`, () => Promise.resolve('w'));
      g.open();
      expect((await Promise.all(reads)).map(value)).toEqual([
        ['miss', 'v'],
        ['miss', 'v'],
        ['miss', 'v'],
      ]);
      expect(value(await other)).toEqual(['miss', 'w']);
      expect(loads).toBe(1);
      // Done: the next miss of the key loads again.
      await redis.unlink(`${s.p}:sf`);
      s.l1?.clear();
      await s.rt.read(`${s.p}:sf`, loader);
      expect(loads).toBe(2);
    });

    it('(lease) a fill whose lease the daemon removed is refused; without leases it lands (stale set)', async () => {
      for (const protections of [FULL_PROTECTION, protectionsWithout({ noLeases: true })]) {
        const s = setup({ l1: false, protections });
        const key = `${s.p}:user:1`;
        const readDone = gate();
        const release = gate();
        const reading = s.rt.read(key, async () => {
          readDone.open();
          await release.promise;
          return 'old';
        });
        await readDone.promise;
        // Without leases the miss took none.
        expect(await redis.exists(RedisKeys.lease(key))).toBe(protections.leases ? 1 : 0);
        await s.daemonDeletes([key]);
        release.open();
        expect(value(await reading)).toEqual(['miss', 'old']);
        if (protections.leases) {
          expect(await redis.get(key)).toBe(null);
          expect(s.stats.fillsDropped).toBe(1);
        } else {
          expect(await redis.get(key)).toBe('v"old"');
          expect(s.stats.fillsDropped).toBe(0);
          expect(await redis.exists(RedisKeys.lease(key))).toBe(0); // no lease was ever taken
        }
      }
    });

    it('(fill tracking) an invalidation during the fill keeps it out of L1; without tracking it lands', async () => {
      for (const protections of [FULL_PROTECTION, protectionsWithout({ noFillTracking: true })]) {
        const s = setup({ protections });
        const key = `${s.p}:k`;
        const release = gate();
        const reading = s.rt.read(key, async () => {
          await release.promise;
          return 'v';
        });
        await Promise.resolve();
        s.fills.invalidateKeys([key]); // the bus message, without an L2 delete
        release.open();
        await reading;
        expect(await redis.get(key)).toBe('v"v"'); // the lease was still held
        expect(s.l1?.get(key) !== undefined).toBe(!protections.fillTracking);
        expect(s.stats.fillsDropped).toBe(protections.fillTracking ? 1 : 0);
      }
    });

    it('a fill registered before its L2 read: an invalidation right after the read starts counts', async () => {
      const s = setup();
      await redis.set(`${s.p}:h`, 'v1');
      const reading = s.rt.read(`${s.p}:h`, () => Promise.resolve(0));
      s.fills.invalidateKeys([`${s.p}:h`]); // arrives while the GET is on the wire
      expect(value(await reading)).toEqual(['l2', 1]);
      expect(s.l1?.get(`${s.p}:h`)).toBeUndefined();
      expect(s.stats.fillsDropped).toBe(1);
    });

    it('L1 unusable: neither read nor filled; becoming unusable during a fill drops it', async () => {
      const s = setup();
      s.l1?.set(`${s.p}:u`, { entry: { present: true, value: 'old' }, json: '"old"' });
      s.usable.value = false;
      const r = await s.rt.read(`${s.p}:u`, () => Promise.resolve('db'));
      expect(value(r)).toEqual(['miss', 'db']);
      expect(s.l1?.get(`${s.p}:u`)?.json).toBe('"old"'); // not overwritten, not read
      expect([s.stats.missesL1, s.stats.hitsL1, s.stats.fillsDropped]).toEqual([1, 0, 0]);
      expect(s.fills.size).toBe(0); // no fill was tracked

      s.usable.value = true;
      const release = gate();
      const reading = s.rt.read(`${s.p}:v`, async () => {
        await release.promise;
        return 'x';
      });
      await Promise.resolve();
      s.usable.value = false; // e.g. the subscription dropped meanwhile
      release.open();
      await reading;
      expect(s.l1?.get(`${s.p}:v`)).toBeUndefined();
      expect(s.stats.fillsDropped).toBe(1);
    });

    it('no L1: reads go to L2 and count no L1 miss', async () => {
      const s = setup({ l1: false });
      await s.rt.read(`${s.p}:n`, () => Promise.resolve(1));
      expect(value(await s.rt.read(`${s.p}:n`, () => Promise.resolve(2)))).toEqual(['l2', 1]);
      expect([s.stats.missesL1, s.stats.hitsL1, s.stats.hitsL2]).toEqual([0, 0, 1]);
    });

    it("another process's lease: wait for its fill, then read it from L2", async () => {
      const s = setup({ l1: false, leaseWaitMs: 5000 });
      const key = `${s.p}:w`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 5000);
      let loads = 0;
      const reading = s.rt.read(key, () => Promise.resolve(++loads));
      await new Promise((r) => setTimeout(r, 30));
      await redis.set(key, 'v"filled"');
      expect(value(await reading)).toEqual(['l2', 'filled']);
      expect([loads, s.stats.leaseWaits, s.stats.hitsL2, s.stats.missesL2]).toEqual([0, 1, 1, 0]);
    });

    it("another process's lease that never fills: load after leaseWaitMs, cache nothing", async () => {
      const s = setup({ l1: false, leaseWaitMs: 60 });
      const key = `${s.p}:nf`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 5000);
      const t0 = Date.now();
      expect(value(await s.rt.read(key, () => Promise.resolve('db')))).toEqual(['miss', 'db']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
      expect(s.stats.fillsDropped).toBe(0); // it had no lease: it did not even try
      expect(await redis.get(key)).toBe(null);
      expect(await redis.get(RedisKeys.lease(key))).toBe('other-process');
      expect([s.stats.leaseWaits, s.stats.missesL2, s.stats.dbLoads]).toEqual([1, 1, 1]);
    });

    /** A clock whose sleeps pass at once (recorded), so the waiting schedule is exact. */
    function steppingClock(): Clock & { sleeps: number[] } {
      let now = 1_000_000;
      const sleeps: number[] = [];
      return {
        sleeps,
        now: () => now,
        sleep: (ms) => {
          sleeps.push(ms);
          now += ms;
          return Promise.resolve();
        },
        setTimeout: () => {
          throw new Error('unused');
        },
        clearTimeout: () => undefined,
        setInterval: () => {
          throw new Error('unused');
        },
        clearInterval: () => undefined,
      };
    }

    it('waiting polls L2 at 2, 4, 8, 16, then every 25 ms, up to leaseWaitMs exactly', async () => {
      const clock = steppingClock();
      const s = setup({ l1: false, leaseWaitMs: 100, clock });
      const key = `${s.p}:poll`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 5000);
      expect(value(await s.rt.read(key, () => Promise.resolve('db')))).toEqual(['miss', 'db']);
      expect(clock.sleeps).toEqual([2, 4, 8, 16, 25, 25, 20]);
    });

    it('a lease about to expire is waited for only its remaining time', async () => {
      const clock = steppingClock();
      const s = setup({ l1: false, leaseWaitMs: 60_000, clock });
      const key = `${s.p}:exp`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 60);
      expect(value(await s.rt.read(key, () => Promise.resolve('db')))).toEqual(['miss', 'db']);
      const waited = clock.sleeps.reduce((a, b) => a + b, 0);
      expect(waited).toBeGreaterThan(0);
      expect(waited).toBeLessThanOrEqual(60);
    });

    it('Redis failing during the wait ends it: the value is loaded, not cached', async () => {
      const s = setup({ l1: false, leaseWaitMs: 5000 });
      const key = `${s.p}:wd`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 5000);
      const get = vi.spyOn(s.l2, 'get');
      get.mockResolvedValueOnce(null); // the first GET: a miss, so the lease script runs
      get.mockResolvedValue(undefined); // then Redis is down
      expect(value(await s.rt.read(key, () => Promise.resolve('db')))).toEqual(['miss', 'db']);
      expect(get).toHaveBeenCalledTimes(2); // the lookup, then one poll that found Redis down
    });

    it('a waited-for fill that is foreign content is loaded over', async () => {
      const s = setup({ l1: false, leaseWaitMs: 5000 });
      const key = `${s.p}:fw`;
      await redis.set(RedisKeys.lease(key), 'other-process', 'PX', 5000);
      const reading = s.rt.read(key, () => Promise.resolve('db'));
      await new Promise((r) => setTimeout(r, 20));
      await redis.set(key, 'junk');
      expect(value(await reading)).toEqual(['miss', 'db']);
      expect([s.stats.hitsL2, s.stats.missesL2]).toEqual([0, 1]);
    });

    it('Redis down: served from the loader, cached nowhere', async () => {
      const s = setup({ client: down });
      const r = await s.rt.read(`${s.p}:d`, () => Promise.resolve('db'));
      expect(value(r)).toEqual(['miss', 'db']);
      expect(s.l1?.size).toBe(0);
      expect([s.stats.missesL2, s.stats.dbLoads, s.stats.fillsDropped]).toEqual([1, 1, 0]);
    });
  });

  describe('get', () => {
    it('L1, then L2; null when neither has it; never loads', async () => {
      const s = setup();
      expect(await s.rt.get(`${s.p}:g0`)).toBe(null);
      expect(await s.rt.get(`${s.p}:g`)).toBe(null);
      await redis.set(`${s.p}:g`, 'v7');
      expect(await s.rt.get(`${s.p}:g`)).toEqual({ present: true, value: 7 });
      s.l1?.set(`${s.p}:g`, { entry: { present: false }, json: null });
      expect(await s.rt.get(`${s.p}:g`)).toEqual({ present: false });
      expect({ ...s.stats }).toMatchObject({ hitsL1: 1, missesL1: 3, hitsL2: 1, missesL2: 2 });
    });
  });

  describe('batch reads', () => {
    it('L1, then one MGET, then one load of the rest; every level filled', async () => {
      const s = setup();
      const [k1, k2, k3, k4] = [1, 2, 3, 4].map((i) => `${s.p}:m${i}`) as [
        string,
        string,
        string,
        string,
      ];
      s.l1?.set(k1, { entry: { present: true, value: 1 }, json: '1' });
      await redis.set(k2, 'v{"id":2}');
      await redis.set(k4, 'n');
      const asked: string[][] = [];
      const res = await s.rt.readMany([k1, k2, k3, k4, `${s.p}:m5`, k1], (missing) => {
        asked.push([...missing]);
        return Promise.resolve(new Map([[k3, { id: 3 }]]));
      });
      expect(asked).toEqual([[k3, `${s.p}:m5`]]);
      expect([...res].map(([k, r]) => [k, r.source, r.json])).toEqual([
        [k1, 'l1', '1'],
        [k2, 'l2', '{"id":2}'],
        [k4, 'l2', null],
        [k3, 'miss', '{"id":3}'],
        [`${s.p}:m5`, 'miss', null],
      ]);
      expect(await redis.mget(k3, `${s.p}:m5`)).toEqual(['v{"id":3}', 'n']);
      expect(await redis.exists(RedisKeys.lease(k3))).toBe(0);
      // The L2 hits and the loaded rows are now in L1.
      for (const k of [k2, k3, k4, `${s.p}:m5`]) expect(s.l1?.get(k), k).toBeDefined();
      const again = await s.rt.readMany([k2, k3, k4], () => Promise.reject(new Error('no load')));
      expect([...again.values()].map((r) => r.source)).toEqual(['l1', 'l1', 'l1']);
      expect({ ...s.stats }).toMatchObject({ hitsL1: 4, hitsL2: 2, missesL2: 2, dbLoads: 2 });
      const pttl = await redis.pttl(`${s.p}:m5`);
      expect(pttl).toBeGreaterThan(4000);
      expect(pttl).toBeLessThanOrEqual(5000);
    });

    it('all in L1: no Redis round trip, no load', async () => {
      const s = setup();
      const mget = vi.spyOn(s.l2, 'mget');
      s.l1?.set(`${s.p}:a`, { entry: { present: true, value: 1 }, json: '1' });
      const res = await s.rt.readMany([`${s.p}:a`], () => Promise.reject(new Error('no load')));
      expect([...res.values()].map((r) => r.source)).toEqual(['l1']);
      expect(mget).not.toHaveBeenCalled();
    });

    it("a batch fill never lands through another reader's lease (tokens are unique)", async () => {
      const s = setup({ l1: false });
      const key = `${s.p}:aba`;
      const loading = gate();
      const release = gate();
      const first = s.rt.readMany([key], async () => {
        loading.open();
        await release.promise;
        return new Map([[key, 'old']]);
      });
      await loading.promise;
      await s.daemonDeletes([key]); // the first reader's lease is gone
      // A second reader (another instance) takes a new lease and holds it.
      const other = setup({ l1: false });
      const loading2 = gate();
      const release2 = gate();
      const second = other.rt.readMany([key], async () => {
        loading2.open();
        await release2.promise;
        return new Map([[key, 'new']]);
      });
      await loading2.promise;
      release.open();
      await first;
      expect(await redis.get(key)).toBe(null); // the old row did not land through the new lease
      release2.open();
      await second;
      expect(await redis.get(key)).toBe('v"new"');
    });

    it('a loader may return null for "no such row"', async () => {
      const s = setup({ l1: false });
      const res = await s.rt.readMany([`${s.p}:n`], (missing) =>
        Promise.resolve(new Map(missing.map((k) => [k, null]))),
      );
      expect([...res.values()].map(value)).toEqual([['miss', null]]);
      expect(await redis.get(`${s.p}:n`)).toBe('n');
    });

    it('(lease) a batch fill whose lease the daemon removed is refused; without leases it lands', async () => {
      for (const protections of [FULL_PROTECTION, protectionsWithout({ noLeases: true })]) {
        const s = setup({ l1: false, protections });
        const [a, b] = [`${s.p}:user:1`, `${s.p}:user:2`];
        const loading = gate();
        const release = gate();
        const reading = s.rt.readMany([a, b], async (missing) => {
          loading.open();
          await release.promise;
          return new Map(missing.map((k) => [k, 'old']));
        });
        await loading.promise;
        expect(await redis.exists(RedisKeys.lease(a), RedisKeys.lease(b))).toBe(
          protections.leases ? 2 : 0,
        );
        await s.daemonDeletes([a]); // a row changed: only a's key and lease go
        release.open();
        const res = await reading;
        expect([...res.values()].map(value)).toEqual([
          ['miss', 'old'],
          ['miss', 'old'],
        ]);
        if (protections.leases) {
          expect(await redis.mget(a, b)).toEqual([null, 'v"old"']);
          expect(s.stats.fillsDropped).toBe(1);
        } else {
          expect(await redis.mget(a, b)).toEqual(['v"old"', 'v"old"']);
          expect(s.stats.fillsDropped).toBe(0);
        }
      }
    });

    it("another process's lease: that key is served from the load but not filled by this batch", async () => {
      const s = setup({ l1: false });
      const [a, b] = [`${s.p}:a`, `${s.p}:b`];
      await redis.set(RedisKeys.lease(a), 'other-process', 'PX', 5000);
      const res = await s.rt.readMany([a, b], (missing) =>
        Promise.resolve(new Map(missing.map((k) => [k, k]))),
      );
      expect([...res.values()].map(value)).toEqual([
        ['miss', a],
        ['miss', b],
      ]);
      expect(await redis.mget(a, b)).toEqual([null, `v"${b}"`]);
      expect(await redis.get(RedisKeys.lease(a))).toBe('other-process');
      expect(s.stats.fillsDropped).toBe(0); // no fill attempted without the lease
    });

    it('(fill tracking) an invalidation during a batch load keeps that key out of L1', async () => {
      for (const protections of [FULL_PROTECTION, protectionsWithout({ noFillTracking: true })]) {
        const s = setup({ protections });
        const [a, b] = [`${s.p}:a`, `${s.p}:b`];
        const release = gate();
        const reading = s.rt.readMany([a, b], async (missing) => {
          await release.promise;
          return new Map(missing.map((k) => [k, 1]));
        });
        await Promise.resolve();
        s.fills.invalidateKeys([a]);
        release.open();
        await reading;
        expect([s.l1?.get(a) !== undefined, s.l1?.get(b) !== undefined]).toEqual([
          !protections.fillTracking,
          true,
        ]);
      }
    });

    it('(fill tracking) an invalidation during the MGET keeps an L2 hit out of L1', async () => {
      const s = setup();
      await redis.set(`${s.p}:a`, 'v1');
      const reading = s.rt.readMany([`${s.p}:a`], () => Promise.resolve(new Map()));
      s.fills.invalidateKeys([`${s.p}:a`]);
      expect([...(await reading).values()].map(value)).toEqual([['l2', 1]]);
      expect(s.l1?.get(`${s.p}:a`)).toBeUndefined();
      expect(s.fills.size).toBe(0); // the fills of the batch are ended
    });

    it('a key filled between the MGET and the lease script is taken from L2, not loaded', async () => {
      const key = `rt${randomId()}:race`;
      const mget = redis.mget.bind(redis);
      // The fill of another process lands right after this batch's MGET.
      const client = testRedis();
      open.push(client);
      client.mget = (async (...keys: string[]) => {
        const r = await mget(...keys);
        await redis.set(key, 'v"theirs"');
        return r;
      }) as typeof client.mget;
      const t = setup({ l1: false, client });
      const res = await t.rt.readMany([key], () => Promise.reject(new Error('no load')));
      expect([...res.values()].map((r) => [r.source, r.json])).toEqual([['l2', '"theirs"']]);
      expect(t.stats.dbLoads).toBe(0);
    });

    it('foreign content appearing between the MGET and the lease script is loaded over, not served', async () => {
      const key = `rt${randomId()}:junk`;
      const mget = redis.mget.bind(redis);
      const client = testRedis();
      open.push(client);
      client.mget = (async (...keys: string[]) => {
        const r = await mget(...keys);
        await redis.set(key, 'junk');
        return r;
      }) as typeof client.mget;
      const t = setup({ l1: false, client });
      const res = await t.rt.readMany([key], (missing) =>
        Promise.resolve(new Map(missing.map((k) => [k, 'db']))),
      );
      expect([...res.values()].map(value)).toEqual([['miss', 'db']]);
      expect(await redis.get(key)).toBe('junk'); // no lease was granted: not overwritten
      expect(t.stats.dbLoads).toBe(1);
    });

    it('Redis down: everything loaded once, cached nowhere', async () => {
      const s = setup({ client: down });
      const res = await s.rt.readMany([`${s.p}:a`, `${s.p}:b`], (missing) =>
        Promise.resolve(new Map([[missing[0] as string, 'x']])),
      );
      expect([...res.values()].map(value)).toEqual([
        ['miss', 'x'],
        ['miss', null],
      ]);
      expect(s.l1?.size).toBe(0);
      expect([s.stats.missesL2, s.stats.dbLoads]).toEqual([2, 2]);
      expect(s.l2.errors).toBe(1); // the MGET only: no lease or fill attempted
    });
  });
});
