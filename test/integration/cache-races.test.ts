import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { FakePublisher, gate, testCache } from '../helpers/cache.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { collectMessages, testRedis } from '../helpers/redis.js';

/**
 * The races the cache exists to win, each run twice: with its protection
 * (no stale value) and with the protection switched off (the same steps leave
 * a stale value), so the test proves the protection is what makes the difference.
 */
describe('cache races (real MariaDB, Redis and daemon)', () => {
  let db: TestDb;
  let redis: Redis;
  let daemon: TestDaemon;
  let p: string;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64))');
    p = `race${randomId()}`;
    daemon = await startDaemon({ [`${db.name}.users`]: [`${p}:user:{id}`] });
  });

  afterAll(async () => {
    await daemon.stop();
    await db.drop();
    redis.disconnect();
  });

  async function loadName(id: number): Promise<{ id: number; name: string } | null> {
    const rows = await db.sql<RowDataPacket[]>('SELECT id, name FROM users WHERE id = ?', [id]);
    return (rows[0] as { id: number; name: string } | undefined) ?? null;
  }

  /**
   * A read whose loader pauses between its database read and its cache write,
   * while the row is updated and the daemon invalidates the key.
   */
  async function readAcrossAWrite(
    id: number,
    cacheOptions: Parameters<typeof testCache>[0],
  ): Promise<{
    l2: string | null;
    served: unknown;
    secondSource: string;
    close: () => Promise<void>;
  }> {
    const key = `${p}:user:${id}`;
    await db.sql('INSERT INTO users VALUES (?, ?)', [id, 'old']);
    const t = await testCache(cacheOptions);
    if (cacheOptions.l1 !== false) {
      // L1 serves (and is filled) only once a daemon heartbeat was seen.
      await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true), { timeout: 5000 });
    }
    const bus = await collectMessages(daemon.channel);
    const readDone = gate();
    const release = gate();
    const reading = t.cache.read(key, async () => {
      const row = await loadName(id);
      readDone.open();
      await release.promise;
      return row;
    });
    await readDone.promise;
    await db.sql("UPDATE users SET name = 'new' WHERE id = ?", [id]);
    // The daemon has invalidated the key once its message is on the bus.
    await vi.waitFor(() =>
      expect(bus.messages.some((m) => (m.keys as string[] | undefined)?.includes(key))).toBe(true),
    );
    await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBeGreaterThan(0));
    release.open();
    const served = (await reading).entry;
    const l2 = await redis.get(key);
    const second = await t.cache.read(key, () => loadName(id));
    await bus.close();
    return { l2, served, secondSource: second.source, close: t.close };
  }

  it('(a) stale set: a fill that read the row before a committed write is refused by its lease', async () => {
    const protectedRun = await readAcrossAWrite(1, { channel: daemon.channel, l1: false });
    expect(protectedRun.l2).toBe(null); // the old row was not written back
    expect(protectedRun.secondSource).toBe('miss');
    await protectedRun.close();
    // The next read sees the new row and caches it.
    const t = await testCache({ channel: daemon.channel, l1: false });
    expect(await t.cache.getOrSet(`${p}:user:1`, () => loadName(1))).toEqual({
      id: 1,
      name: 'new',
    });
    expect(await redis.get(`${p}:user:1`)).toBe('v{"id":1,"name":"new"}');
    await t.close();

    const unprotected = await readAcrossAWrite(2, {
      channel: daemon.channel,
      l1: false,
      unsafe: { noLeases: true },
    });
    expect(unprotected.l2).toBe('v{"id":2,"name":"old"}'); // stale until its TTL
    expect(unprotected.secondSource).toBe('l2');
    await unprotected.close();
  });

  it('(a) stale set through a batch read (getMany, ?ids=): each fill is refused by its own lease', async () => {
    for (const unsafe of [{}, { noLeases: true }]) {
      const [id1, id2] = unsafe.noLeases ? [12, 13] : [10, 11];
      const [k1, k2] = [`${p}:user:${id1}`, `${p}:user:${id2}`];
      await db.sql('INSERT INTO users VALUES (?, ?), (?, ?)', [id1, 'old', id2, 'old']);
      const t = await testCache({ channel: daemon.channel, l1: false, unsafe });
      const bus = await collectMessages(daemon.channel);
      const readDone = gate();
      const release = gate();
      const reading = t.cache.readMany([k1, k2], async (missing) => {
        const rows = await db.sql<RowDataPacket[]>('SELECT id, name FROM users WHERE id IN (?)', [
          [id1, id2],
        ]);
        readDone.open();
        await release.promise;
        const byKey = new Map(rows.map((r) => [`${p}:user:${String(r.id)}`, r.name as string]));
        return new Map(missing.map((k) => [k, byKey.get(k) ?? '']));
      });
      await readDone.promise;
      // Only the first row changes; the daemon deletes its key (and lease).
      await db.sql("UPDATE users SET name = 'new' WHERE id = ?", [id1]);
      await vi.waitFor(() =>
        expect(bus.messages.some((m) => (m.keys as string[] | undefined)?.includes(k1))).toBe(true),
      );
      release.open();
      await reading;
      if (unsafe.noLeases) {
        expect(await redis.mget(k1, k2)).toEqual(['v"old"', 'v"old"']); // k1 stale until its TTL
      } else {
        expect(await redis.mget(k1, k2)).toEqual([null, 'v"old"']); // k2 is still current
        expect(t.cache.stats().fillsDropped).toBe(1);
      }
      await bus.close();
      await t.close();
    }
  });

  it('(b) stale L1: an invalidation arriving during an L1 fill discards the fill', async () => {
    // Leases off in both runs, so only the L1 fill tracking differs.
    const opts = { channel: daemon.channel, unsafe: { noLeases: true } };
    const withTracking = await readAcrossAWrite(3, opts);
    expect(withTracking.secondSource).toBe('l2'); // L1 did not keep the fill
    await withTracking.close();

    const noTracking = await readAcrossAWrite(4, {
      ...opts,
      unsafe: { noLeases: true, noFillTracking: true },
    });
    expect(noTracking.secondSource).toBe('l1'); // the stale fill landed in L1
    await noTracking.close();
  });

  /**
   * A cache on a fake daemon beating every 100 ms. The cache expects 2 s
   * heartbeats (6 s of silence before a heartbeat loss): a stall of a loaded
   * machine (a slow reconnect: CI took over 300 ms once) must not add a
   * heartbeat-loss reset, or bypass L1, in a test about another reset.
   */
  async function l1WithFakeDaemon(unsafe: {
    noResets?: boolean;
  }): Promise<{ t: Awaited<ReturnType<typeof testCache>>; pub: FakePublisher; key: string }> {
    const channel = `sluice:test:fake-${randomId()}`;
    const pub = new FakePublisher(channel);
    const t = await testCache({ channel, heartbeatMs: 2000, unsafe });
    pub.startHeartbeats(100);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
    const key = `${p}:user:9`;
    await t.cache.read(key, () => Promise.resolve({ id: 9, name: 'cached' }));
    expect((await t.cache.read(key, () => Promise.resolve(null))).source).toBe('l1');
    return { t, pub, key };
  }

  it('(c) a lost bus message (seq gap) clears L1', async () => {
    for (const unsafe of [{}, { noResets: true }]) {
      const { t, pub, key } = await l1WithFakeDaemon(unsafe);
      await pub.invalidate([`${p}:unrelated:1`]); // seq 1
      await pub.invalidate([`${p}:unrelated:2`], 3); // seq 2 was lost
      await vi.waitFor(() => expect(t.cache.stats().bus.gaps).toBe(1));
      const after = await t.cache.read(key, () => Promise.resolve(null));
      expect(after.source).toBe(unsafe.noResets ? 'l1' : 'l2');
      pub.close();
      await t.close();
    }
  });

  it('(d) a subscriber reconnect clears L1', async () => {
    for (const unsafe of [{}, { noResets: true }]) {
      const { t, pub, key } = await l1WithFakeDaemon(unsafe);
      const resetsBefore = t.cache.stats().bus.resets;
      const clients = (await redis.client('LIST')) as string;
      const line = clients.split('\n').find((l) => l.includes(`name=${t.subscriberName}`));
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
      expect(id).toBeDefined();
      await redis.client('KILL', 'ID', id as string);
      await vi.waitFor(() => expect(t.cache.stats().bus.resets).toBe(resetsBefore + 1), {
        timeout: 5000,
      });
      await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
      const after = await t.cache.read(key, () => Promise.resolve(null));
      expect(after.source).toBe(unsafe.noResets ? 'l1' : 'l2');
      pub.close();
      await t.close();
    }
  });

  it("a 'ready' event on a live subscription keeps L1 (ioredis can emit one without a reconnect)", async () => {
    const { t, pub, key } = await l1WithFakeDaemon({});
    const resetsBefore = t.cache.stats().bus.resets;
    (t.subscriber as unknown as { emit(event: string): boolean }).emit('ready');
    await pub.invalidate([`${p}:unrelated:3`]); // delivered after the event: the bus has seen it
    await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBeGreaterThan(0));
    expect(t.cache.stats().bus.resets).toBe(resetsBefore);
    expect((await t.cache.read(key, () => Promise.resolve(null))).source).toBe('l1');
    pub.close();
    await t.close();
  });

  it('lease keys are removed with their data key by the daemon', async () => {
    const key = `${p}:user:20`;
    await redis.set(RedisKeys.lease(key), 'someone-filling');
    await db.sql("INSERT INTO users VALUES (20, 'x')");
    await vi.waitFor(async () => expect(await redis.exists(RedisKeys.lease(key))).toBe(0));
  });
});
