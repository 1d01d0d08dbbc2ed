import type { RowDataPacket } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SluiceCache } from '../../src/cache/SluiceCache.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { comparePositions, position, type BinlogPosition } from '../../src/pipeline/position.js';
import { testCache } from '../helpers/cache.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * Several sources: one daemon per MySQL source, each with its own
 * `source.name` (checkpoint key, `src` of its bus messages) and replica
 * `serverId`. With the one server of the test services, two databases stand
 * for two sources: daemon A maps only database A, daemon B only database B,
 * and both publish on one invalidation channel that an L1 cache listens to.
 */

const WAIT = { timeout: 10_000, interval: 20 };

interface StoredCheckpoint {
  readonly file: string;
  readonly pos: number;
}

describe('one daemon per source, one channel', () => {
  let dbA: TestDb;
  let dbB: TestDb;
  let daemonA: TestDaemon;
  let daemonB: TestDaemon;
  let redis: Redis;
  let bus: Awaited<ReturnType<typeof collectMessages>>;
  const p = `src${randomId()}`;
  const channel = `sluice:test:sources-${randomId()}`;
  const nameA = `orders-${randomId()}`;
  const nameB = `billing-${randomId()}`;
  const serverIdA = randomServerId();
  const serverIdB = serverIdA + 1;
  const keyA = (id: number): string => `${p}:a:user:${id}`;
  const keyB = (id: number): string => `${p}:b:user:${id}`;
  const closers: Array<() => Promise<void>> = [];

  function startB(startFrom: string): Promise<TestDaemon> {
    return startDaemon(
      { [`${dbB.name}.users`]: [`${p}:b:user:{id}`] },
      { startFrom, source: { name: nameB, serverId: serverIdB }, invalidation: { channel } },
    );
  }

  async function checkpointOf(source: string): Promise<StoredCheckpoint | null> {
    const raw = await redis.get(RedisKeys.checkpoint(source));
    return raw === null ? null : (JSON.parse(raw) as StoredCheckpoint);
  }

  const text = (cp: StoredCheckpoint | null): string | null =>
    cp === null ? null : `${cp.file}:${cp.pos}`;

  /**
   * Whether `source`'s checkpoint is at `head` or past it (other writers of
   * the shared test server may have moved the binlog on meanwhile).
   */
  async function reached(source: string, head: BinlogPosition): Promise<boolean> {
    const cp = await checkpointOf(source);
    return cp !== null && comparePositions(position(cp.file, cp.pos), head) >= 0;
  }

  /** Invalidation messages (not heartbeats) of `src`, in arrival order. */
  function messagesOf(src: string): Array<{ seq: number; keys: string[] }> {
    return bus.messages
      .filter((m) => m.src === src && m.type !== 'hb')
      .map((m) => ({ seq: Number(m.seq), keys: (m.keys as string[] | undefined) ?? [] }));
  }

  beforeAll(async () => {
    [dbA, dbB] = await Promise.all([TestDb.create(), TestDb.create()]);
    for (const db of [dbA, dbB]) {
      await db.sql(`CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB`);
      await db.sql(`INSERT INTO users VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
    }
    redis = testRedis();
    bus = await collectMessages(channel);
    daemonA = await startDaemon(
      { [`${dbA.name}.users`]: [`${p}:a:user:{id}`] },
      { source: { name: nameA, serverId: serverIdA }, invalidation: { channel } },
    );
    daemonB = await startB('end');
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await (daemonA as TestDaemon | undefined)?.stop();
    await (daemonB as TestDaemon | undefined)?.stop();
    await (bus as typeof bus | undefined)?.close();
    await (dbA as TestDb | undefined)?.drop();
    await (dbB as TestDb | undefined)?.drop();
    if (redis !== undefined) {
      await redis.unlink(RedisKeys.checkpoint(nameA), RedisKeys.checkpoint(nameB));
      redis.disconnect();
    }
  });

  it('each daemon invalidates only the keys of its own tables, under its own src', async () => {
    const keys = await plant(redis, [keyA(1), keyA(2), keyB(1), keyB(2)]);
    await dbA.sql(`UPDATE users SET name = 'one*' WHERE id = 1`);
    await dbB.sql(`UPDATE users SET name = 'two*' WHERE id = 2`);
    const head = await dbB.head();

    await vi.waitFor(async () => {
      expect(await survivors(redis, keys)).toEqual([keyA(2), keyB(1)]);
    }, WAIT);
    // Both daemons have read past both writes: what survives, survives for good.
    await vi.waitFor(async () => {
      expect(await reached(nameA, head)).toBe(true);
      expect(await reached(nameB, head)).toBe(true);
    }, WAIT);
    expect(await survivors(redis, keys)).toEqual([keyA(2), keyB(1)]);

    const fromA = messagesOf(nameA).flatMap((m) => m.keys);
    const fromB = messagesOf(nameB).flatMap((m) => m.keys);
    expect(fromA).toEqual([keyA(1)]);
    expect(fromB).toEqual([keyB(2)]);
    await redis.unlink(...keys); // the planted placeholders are not cache entries
  });

  it('an L1 on the shared channel tracks both src sequences: evictions from both, no gap resets', async () => {
    const t = await testCache({ channel, heartbeatMs: 1000 });
    const cache: SluiceCache = t.cache;
    try {
      // L1 serves once the daemons' heartbeats are seen.
      await vi.waitFor(() => expect(cache.l1Usable).toBe(true), WAIT);
      const load = (db: TestDb, id: number) => async (): Promise<string | null> => {
        const rows = await db.sql<RowDataPacket[]>('SELECT name FROM users WHERE id = ?', [id]);
        return rows[0] === undefined ? null : String(rows[0].name);
      };
      const readA = (id: number): ReturnType<SluiceCache['read']> =>
        cache.read(keyA(id), load(dbA, id));
      const readB = (id: number): ReturnType<SluiceCache['read']> =>
        cache.read(keyB(id), load(dbB, id));
      for (const id of [1, 2, 3]) {
        await readA(id);
        await readB(id);
        expect((await readA(id)).source).toBe('l1');
        expect((await readB(id)).source).toBe('l1');
      }
      // Commits alternate between the two sources, each waiting for its own
      // invalidation, so the two sequences interleave on the channel:
      // A n, B m, A n+1, B m+1, … Each src counts on its own, and the cache
      // must not mistake one for a gap in the other.
      const before = bus.messages.length;
      for (let round = 1; round <= 10; round++) {
        const id = (round % 3) + 1;
        for (const [db, src, key, value, read] of [
          [dbA, nameA, keyA(id), `a${round}`, readA],
          [dbB, nameB, keyB(id), `b${round}`, readB],
        ] as const) {
          const count = messagesOf(src).length;
          await db.sql(`UPDATE users SET name = ? WHERE id = ?`, [value, id]);
          await vi.waitFor(
            () =>
              expect(
                messagesOf(src)
                  .slice(count)
                  .flatMap((m) => m.keys),
              ).toEqual([key]),
            WAIT,
          );
          // The L1 copy is gone (read from the database), then cached again.
          await vi.waitFor(async () => {
            expect((await read(id)).entry).toEqual({ present: true, value });
          }, WAIT);
          expect((await read(id)).source).toBe('l1');
        }
      }
      const srcs = bus.messages
        .slice(before)
        .filter((m) => m.type !== 'hb')
        .map((m) => m.src);
      expect(srcs).toEqual(Array.from({ length: 20 }, (_x, i) => (i % 2 === 0 ? nameA : nameB)));

      // Each sequence is gap-free on its own.
      for (const src of [nameA, nameB]) {
        const seqs = messagesOf(src).map((m) => m.seq);
        expect(seqs).toEqual(seqs.map((_s, i) => (seqs[0] ?? 0) + i));
      }

      const stats = cache.stats();
      expect(stats.bus.messages).toBeGreaterThanOrEqual(20);
      expect(stats.bus.gaps).toBe(0);
      expect(stats.bus.resets).toBe(0);
      expect(stats.l1Resets).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('two checkpoints under two keys, each at its own position: a stopped source resumes from its own', async () => {
    expect(RedisKeys.checkpoint(nameA)).not.toBe(RedisKeys.checkpoint(nameB));
    // A reader on the shared channel, to watch what a stopped source does to L1.
    const since = bus.messages.length;
    const t = await testCache({ channel, heartbeatMs: 1000 });
    closers.push(t.close);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true), WAIT);
    // Two of B's heartbeats went by since the reader subscribed: it knows B.
    await vi.waitFor(() => {
      const beats = bus.messages.slice(since).filter((m) => m.src === nameB && m.type === 'hb');
      expect(beats.length).toBeGreaterThanOrEqual(2);
    }, WAIT);
    await daemonB.stop();
    const stoppedAt = await checkpointOf(nameB);
    expect(stoppedAt).not.toBeNull();

    const keys = await plant(redis, [keyA(3), keyB(3)]);
    await dbA.sql(`UPDATE users SET name = 'three*' WHERE id = 3`);
    await dbB.sql(`UPDATE users SET name = 'three*' WHERE id = 3`);
    const head = await dbB.head();

    // A keeps going; B's checkpoint stays where B stopped, its key stays cached.
    await vi.waitFor(async () => {
      expect(await reached(nameA, head)).toBe(true);
      expect(await survivors(redis, keys)).toEqual([keyB(3)]);
    }, WAIT);
    expect(text(await checkpointOf(nameB))).toBe(text(stoppedAt));
    expect(
      stoppedAt !== null && comparePositions(position(stoppedAt.file, stoppedAt.pos), head),
    ).toBeLessThan(0);
    // While one source's daemon is silent, L1 is bypassed for every key: the
    // reader cannot tell which keys the silent source feeds.
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(false), WAIT);

    // B restarts from its own checkpoint (same name and replica id) and
    // catches up on the write it missed; A's checkpoint is not touched.
    daemonB = await startB('checkpoint');
    await vi.waitFor(async () => {
      expect(await survivors(redis, keys)).toEqual([]);
      expect(await reached(nameB, head)).toBe(true);
    }, WAIT);
    expect(await reached(nameA, head)).toBe(true);
    expect(messagesOf(nameB).at(-1)?.keys).toEqual([keyB(3)]);
    // B is back: L1 serves again. Its sequence started over, which is a
    // restart (L1 cleared), not a gap.
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true), WAIT);
    expect(t.cache.stats().bus.gaps).toBe(0);
  });
});
