import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { LeaderLease } from '../../src/pipeline/checkpoint/LeaderLease.js';
import { startDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
import { atOrAfter } from '../helpers/positions.js';
import { plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * The fencing policy on a single Redis, with an in-process daemon and a real
 * leader lease: a fenced-off checkpoint write halts the daemon only when
 * another instance holds the lease. The case a lone daemon meets after a
 * Redis outage longer than its lease (it re-took its own lease with a new
 * token, but a write built with the old one was still being retried) is made
 * deterministic here: the counter moves on while the lease stays ours, as
 * when the re-take's reply is lost.
 */
describe('fencing policy', () => {
  let db: TestDb;
  let redis: Redis;
  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
  });
  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  async function leading(source: string, logger?: Logger) {
    const lease = new LeaderLease({
      redis,
      source,
      instance: `me-${source}`,
      leaseMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    expect(await lease.acquire()).toBe(true);
    const p = `fn${randomId()}`;
    const daemon = await startDaemon(
      { [`${db.name}.t`]: [`${p}:t:{id}`] },
      {
        source: { name: source },
        fence: { key: lease.fenceKey, token: () => lease.token, confirm: () => lease.confirm() },
        ...(logger === undefined ? {} : { logger }),
      },
    );
    return { lease, daemon, p };
  }

  const stored = async (source: string): Promise<string | null> => {
    const raw = await redis.get(RedisKeys.checkpoint(source));
    if (raw === null) return null;
    const cp = JSON.parse(raw) as { file: string; pos: number };
    return `${cp.file}:${cp.pos}`;
  };

  it('fenced off while this instance still holds the lease: it adopts the current token and keeps going', async () => {
    const source = `fence-${randomId()}`;
    const { lease, daemon, p } = await leading(source);
    const first = lease.token;
    // Re-taken by this instance (as leader-renew does after an expiry); the
    // reply with the new token never arrived.
    const next = await redis.incr(lease.fenceKey);
    await redis.set(RedisKeys.leader(source), `me-${source}/${next}`, 'PX', 60_000);
    const keys = await plant(redis, [`${p}:t:1`, `${p}:t:2`]);
    await db.sql('INSERT INTO t VALUES (1, 1), (2, 2)');
    const head = await db.headText();
    await vi.waitFor(async () => expect(atOrAfter(await stored(source), head)).toBe(true), {
      timeout: 10_000,
    });
    expect(await survivors(redis, keys)).toEqual([]);
    expect(lease.token).toBe(first + 1);
    // Still running, and writing with the adopted token: the next commit's
    // keys go and the checkpoint follows it.
    const more = await plant(redis, [`${p}:t:3`]);
    await db.sql('INSERT INTO t VALUES (3, 3)');
    const head2 = await db.headText();
    await vi.waitFor(async () => expect(atOrAfter(await stored(source), head2)).toBe(true), {
      timeout: 10_000,
    });
    expect(await survivors(redis, more)).toEqual([]);
    expect(lease.token).toBe(first + 1);
    await daemon.stop();
    await lease.release();
  });

  it('fenced off while nobody holds the lease (a Redis failover lost it): taken with a new token, keeps going', async () => {
    const source = `fence-${randomId()}`;
    const { lease, daemon, p } = await leading(source);
    const first = lease.token;
    // The primary Redis failed over to has not got this lease, and another counter.
    await redis.del(lease.leaderKey);
    await redis.set(lease.fenceKey, first + 3);
    const keys = await plant(redis, [`${p}:t:31`]);
    await db.sql('INSERT INTO t VALUES (31, 1)');
    const head = await db.headText();
    await vi.waitFor(async () => expect(atOrAfter(await stored(source), head)).toBe(true), {
      timeout: 10_000,
    });
    expect(await survivors(redis, keys)).toEqual([]);
    expect(await redis.get(lease.leaderKey)).toBe(`me-${source}/${first + 4}`);
    expect(lease.token).toBe(first + 4); // taken again with INCR, and adopted
    expect(Number(await redis.get(lease.fenceKey))).toBe(first + 4);
    await daemon.stop();
    await lease.release();
  });

  it('fenced off while another instance holds the lease: E_FENCED, the checkpoint stays where it was', async () => {
    const source = `fence-${randomId()}`;
    const { logger, lines } = capturedLogger('error');
    const { lease, daemon, p } = await leading(source, logger);
    await db.sql('INSERT INTO t VALUES (10, 1)');
    const head = await db.headText();
    await vi.waitFor(async () => expect(atOrAfter(await stored(source), head)).toBe(true), {
      timeout: 10_000,
    });
    // A standby took over: the lease is its own and the counter moved on.
    const next = await redis.incr(lease.fenceKey);
    await redis.set(RedisKeys.leader(source), `standby/${next}`);
    // Every checkpoint write from here on is refused (the shared binlog's
    // other commits may have moved it past `head` before).
    const before = await stored(source);
    const keys = await plant(redis, [`${p}:t:11`]);
    await db.sql('INSERT INTO t VALUES (11, 1)');
    await expect(daemon.invalidator.done).rejects.toMatchObject({ code: 'E_FENCED' });
    // Its deletes still landed (harmless); the checkpoint did not move.
    expect(await survivors(redis, keys)).toEqual([]);
    expect(await stored(source)).toBe(before);
    // `sluice status` shows the error that stopped it, and a later one (the
    // lease's own loss, say) does not replace it: the daemon stops once.
    daemon.invalidator.fail(new SluiceError('E_LEADERSHIP_LOST', 'leadership lost: later'));
    await daemon.redis.ping(); // the record is written on this connection, in order
    const recorded = JSON.parse((await redis.get(RedisKeys.lastError(source))) ?? 'null') as {
      code: string;
    } | null;
    expect(recorded?.code).toBe('E_FENCED');
    // The operator's lines name the code: the halted dispatch, then the stop, once.
    expect(lines.map((l) => [l.msg, l.code])).toEqual([
      ['dispatch halted', 'E_FENCED'],
      ['fatal: stopping', 'E_FENCED'],
    ]);
    await daemon.stop();
    await redis.del(RedisKeys.leader(source), lease.fenceKey, RedisKeys.lastError(source));
  });

  it('fenced off while the lease names this instance under an older acquisition: E_FENCED', async () => {
    const source = `fence-${randomId()}`;
    const { lease, daemon } = await leading(source);
    await db.sql('INSERT INTO t VALUES (20, 1)');
    const head = await db.headText();
    await vi.waitFor(async () => expect(atOrAfter(await stored(source), head)).toBe(true), {
      timeout: 10_000,
    });
    // Another acquisition moved the counter on; the lease still reads as this
    // instance's old one (a paused leader whose renewal raced the takeover).
    await redis.incr(lease.fenceKey);
    expect(await redis.get(RedisKeys.leader(source))).toBe(lease.holder);
    const before = await stored(source); // refused from here on
    await db.sql('INSERT INTO t VALUES (21, 1)');
    await expect(daemon.invalidator.done).rejects.toMatchObject({ code: 'E_FENCED' });
    expect(await stored(source)).toBe(before);
    await daemon.stop();
    await redis.del(RedisKeys.leader(source), lease.fenceKey);
  });
});
