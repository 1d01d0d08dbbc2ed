import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { TestDb } from '../helpers/db.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';
import { randomId } from '../helpers/env.js';

/**
 * Row changes on a real binlog-enabled MariaDB become exactly the expected
 * Redis deletions: each test plants values under the keys its rows map to and
 * under unrelated keys, writes, and checks which ones are gone.
 */
describe('binlog → Redis invalidation', () => {
  let db: TestDb;
  let redis: Redis;
  let daemon: TestDaemon | undefined;
  let p: string; // this test's key prefix

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql(`CREATE TABLE users (
      id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255) CHARACTER SET utf8mb4
    ) ENGINE=InnoDB`);
    await db.sql(`CREATE TABLE members (
      org_id INT NOT NULL, user_id INT NOT NULL, role VARCHAR(20), PRIMARY KEY (org_id, user_id)
    ) ENGINE=InnoDB`);
    await db.sql(`CREATE TABLE blobs (id VARBINARY(16) PRIMARY KEY, v INT) ENGINE=InnoDB`);
  });

  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  async function start(rules: Record<string, string[]>): Promise<TestDaemon> {
    p = `it${randomId()}`;
    const resolved = Object.fromEntries(
      Object.entries(rules).map(([t, keys]) => [`${db.name}.${t}`, keys.map((k) => `${p}:${k}`)]),
    );
    daemon = await startDaemon(resolved);
    return daemon;
  }

  /** Waits until none of `gone` exists, then asserts exactly `kept` survive. */
  async function expectDeleted(gone: string[], kept: string[]): Promise<void> {
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]), {
      timeout: 5000,
      interval: 20,
    });
    expect(await survivors(redis, kept)).toEqual(kept);
  }

  it('insert, update and delete remove exactly the keys of the changed rows', async () => {
    await start({ users: ['user:{id}', 'user:email:{email}'] });
    const k = (s: string): string => `${p}:${s}`;
    const unrelated = await plant(redis, [k('user:99'), k('user:email:z@x'), k('other:1')]);

    await plant(redis, [k('user:1'), k('user:email:a@x')]);
    await db.sql(`INSERT INTO users VALUES (1, 'a@x', 'Ann')`);
    await expectDeleted([k('user:1'), k('user:email:a@x')], unrelated);

    await plant(redis, [k('user:1'), k('user:email:a@x')]);
    await db.sql(`UPDATE users SET name = 'Anne' WHERE id = 1`);
    await expectDeleted([k('user:1'), k('user:email:a@x')], unrelated);

    await plant(redis, [k('user:1'), k('user:email:a@x')]);
    await db.sql(`DELETE FROM users WHERE id = 1`);
    await expectDeleted([k('user:1'), k('user:email:a@x')], unrelated);
  });

  it('an email change removes the old and the new email key; lease keys go too', async () => {
    const d = await start({ users: ['user:{id}', 'user:email:{email}'] });
    const k = (s: string): string => `${p}:${s}`;
    await db.sql(`INSERT INTO users VALUES (2, 'old@x', 'Bo')`);
    const bus = await collectMessages(d.channel);
    const keys = [k('user:2'), k('user:email:old@x'), k('user:email:new@x')];
    await plant(redis, [...keys, ...keys.map((x) => RedisKeys.lease(x))]);
    await db.sql(`UPDATE users SET email = 'new@x' WHERE id = 2`);
    await expectDeleted([...keys, ...keys.map((x) => RedisKeys.lease(x))], []);
    // The INSERT's own message may arrive too: wait for the UPDATE's, then
    // every published key must be one of the three.
    await vi.waitFor(() => {
      const published = bus.messages.flatMap((m) => (m.keys as string[] | undefined) ?? []);
      expect(new Set(published)).toEqual(new Set(keys));
    });
    await bus.close();
  });

  it('composite primary keys, NULL placeholders and binary columns', async () => {
    await start({
      members: ['member:{org_id}:{user_id}', 'role:{role}:{user_id}'],
      blobs: ['blob:{id}'],
    });
    const k = (s: string): string => `${p}:${s}`;
    const bus = await collectMessages(daemon?.channel ?? '');
    const kept = await plant(redis, [k('member:7:9'), k('role::8'), k('role:null:8')]);
    await plant(redis, [k('member:7:8'), k('role:admin:8'), k('blob:00ff10')]);
    await db.sql(`INSERT INTO members VALUES (7, 8, NULL)`);
    await db.sql(`INSERT INTO blobs VALUES (X'00FF10', 1)`);
    await db.sql(`UPDATE members SET role = 'admin' WHERE org_id = 7 AND user_id = 8`);
    await expectDeleted([k('member:7:8'), k('role:admin:8'), k('blob:00ff10')], kept);
    // A NULL placeholder yields no key (the NULL before-image of the update
    // included): exactly these three keys were published, binary as lowercase hex.
    await vi.waitFor(() => {
      const published = bus.messages.flatMap((m) => (m.keys as string[] | undefined) ?? []);
      expect(new Set(published)).toEqual(
        new Set([k('member:7:8'), k('role:admin:8'), k('blob:00ff10')]),
      );
    });
    await bus.close();
  });

  it('BIGINT UNSIGNED max and utf8mb4 text render exactly', async () => {
    await start({ users: ['user:{id}', 'user:name:{name}'] });
    const k = (s: string): string => `${p}:${s}`;
    const big = '18446744073709551615';
    await plant(redis, [k(`user:${big}`), k('user:name:Zoë 🐳')]);
    const kept = await plant(redis, [
      k('user:18446744073709551616'),
      k('user:18446744073709552000'),
    ]);
    await db.sql(`INSERT INTO users VALUES (${big}, 'big@x', 'Zoë 🐳')`);
    await expectDeleted([k(`user:${big}`), k('user:name:Zoë 🐳')], kept);
  });

  it('a multi-table transaction removes the keys of both tables', async () => {
    await start({ users: ['user:{id}'], members: ['member:{org_id}:{user_id}'] });
    const k = (s: string): string => `${p}:${s}`;
    await plant(redis, [k('user:3'), k('member:1:3')]);
    await db.conn.beginTransaction();
    await db.sql(`INSERT INTO users VALUES (3, 'c@x', 'Cy')`);
    await db.sql(`INSERT INTO members VALUES (1, 3, 'admin')`);
    await db.conn.commit();
    await expectDeleted([k('user:3'), k('member:1:3')], []);
  });

  it('a rolled-back transaction removes nothing', async () => {
    const d = await start({ users: ['user:{id}'] });
    const k = (s: string): string => `${p}:${s}`;
    const kept = await plant(redis, [k('user:4')]);
    await db.conn.beginTransaction();
    await db.sql(`INSERT INTO users VALUES (4, 'd@x', 'Di')`);
    await db.conn.rollback();
    // A later committed write proves the daemon has read past the rollback.
    await plant(redis, [k('user:5')]);
    await db.sql(`INSERT INTO users VALUES (5, 'e@x', 'Ed')`);
    await expectDeleted([k('user:5')], kept);
    expect(d.invalidator.stats.rows).toBe(1);
  });

  it('TRUNCATE flushes that table key space only, with escaped literal glob characters', async () => {
    const d = await start({
      users: ['user:{id}', 'star*x:{email}'],
      members: ['member:{org_id}:{user_id}'],
    });
    const k = (s: string): string => `${p}:${s}`;
    const bus = await collectMessages(d.channel);
    const gone = await plant(redis, [k('user:1'), k('user:abc'), k('star*x:q'), k('star*x:')]);
    // `staraax:q` would match an unescaped `star*x:*`.
    const kept = await plant(redis, [k('member:1:1'), k('userx:1'), k('user-1'), k('staraax:q')]);
    await db.sql('TRUNCATE TABLE users');
    await expectDeleted(gone, kept);
    await vi.waitFor(() => expect(bus.messages.some((m) => m.patterns !== undefined)).toBe(true));
    const msg = bus.messages.find((m) => m.patterns !== undefined);
    expect(msg?.patterns).toEqual([`${p}:user:*`, `${p}:star\\*x:*`]);
    await bus.close();
  });

  it('messages carry consecutive seq and the commit position; the checkpoint is that boundary', async () => {
    const d = await start({ users: ['user:{id}'] });
    const bus = await collectMessages(d.channel);
    const heads: string[] = [];
    for (let i = 10; i < 13; i++) {
      await db.sql(`INSERT INTO users VALUES (${i}, 'x${i}@x', 'n')`);
      heads.push(await db.headText());
      // One transaction per batch: wait for its message before the next write.
      await vi.waitFor(() => expect(bus.messages.filter((m) => m.keys).length).toBe(i - 9), {
        timeout: 5000,
      });
    }
    const inv = bus.messages.filter((m) => m.keys);
    expect(inv.map((m) => m.keys)).toEqual([[`${p}:user:10`], [`${p}:user:11`], [`${p}:user:12`]]);
    const seqs = inv.map((m) => m.seq as number);
    expect(seqs).toEqual([seqs[0], (seqs[0] as number) + 1, (seqs[0] as number) + 2]);
    expect(inv.map((m) => m.pos)).toEqual(heads);
    expect(inv.every((m) => m.v === 1 && m.src === d.source)).toBe(true);
    // The checkpoint lands exactly on the last commit once its batch is acknowledged.
    await vi.waitFor(async () => {
      const raw = await redis.get(RedisKeys.checkpoint(d.source));
      expect(raw).not.toBeNull();
      const cp = JSON.parse(raw as string) as { file: string; pos: number };
      expect(`${cp.file}:${cp.pos}`).toBe(heads[2]);
    });
    await bus.close();
  });

  it("an idle source: the server's heartbeats move the time read on (stats.lastEventAt, what status and the lag gauge read)", async () => {
    p = `it${randomId()}`;
    daemon = await startDaemon(
      { [`${db.name}.users`]: [`${p}:user:{id}`] },
      { source: { heartbeatMs: 100 } },
    );
    const inv = daemon.invalidator;
    await db.sql(`INSERT INTO users VALUES (40, 'x40@x', 'n')`);
    await vi.waitFor(() => expect(inv.stats.rows).toBe(1), { timeout: 5000 });
    // A binlog event's time is whole seconds; a heartbeat's is the clock's
    // millisecond: only a heartbeat can leave a time that is not a whole second.
    await vi.waitFor(() => expect(inv.stats.lastEventAt % 1000).not.toBe(0), {
      timeout: 5000,
      interval: 20,
    });
  });
});
