import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, daemonConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { checkpointText, plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * Several `sluice run` for one source: one leads through a Redis lease with a
 * fencing token, the others stand by and take over when it expires.
 */
describe('high availability', () => {
  let db: TestDb;
  let redis: Redis;
  let procs: CliProcess[] = [];

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
  });
  afterEach(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGCONT');
        p.kill('SIGKILL');
        await p.exited;
      }
    }
    procs = [];
  });
  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  async function setup(): Promise<{
    table: string;
    prefix: string;
    source: string;
    config: string;
  }> {
    const table = `h_${randomId()}`;
    await db.sql(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT)`);
    const prefix = `ha${randomId()}`;
    const source = `ha-${randomId()}`;
    const config = daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.${table}`]: [`${prefix}:r:{id}`] },
    });
    return { table, prefix, source, config };
  }

  function start(config: string): CliProcess {
    const p = new CliProcess(['run', '--config', config]);
    procs.push(p);
    return p;
  }

  // How soon the standby takes over is bounded by the lease (5 s) and is the
  // benchmark's to measure; here: that it takes over, and loses nothing.
  it('kill -9 of the leader mid-burst: the standby takes over with a new fencing token, 0 survivors', async () => {
    const s = await setup();
    const a = start(s.config);
    await vi.waitFor(() => expect(a.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const b = start(s.config);
    await vi.waitFor(() => expect(b.stdout).toContain('standby'), { timeout: 20_000 });
    await db.sql(`INSERT INTO ${s.table} VALUES (0, 0)`);
    const head0 = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, s.source)).toBe(head0));

    const keys = Array.from({ length: 20_000 }, (_, i) => `${s.prefix}:r:${i + 1}`);
    await plant(redis, keys);
    const writing = (async () => {
      for (let i = 1; i <= 20_000; i += 250) {
        const values = Array.from({ length: 250 }, (_, j) => `(${i + j}, 1)`);
        await db.sql(`INSERT INTO ${s.table} VALUES ${values.join(',')}`);
      }
    })();
    await vi.waitFor(
      async () => expect((await survivors(redis, keys)).length).toBeLessThan(19_000),
      {
        timeout: 30_000,
        interval: 10,
      },
    );
    const fenceOfA = Number(await redis.get(RedisKeys.fence(s.source)));
    a.kill('SIGKILL');
    await a.exited;
    await vi.waitFor(() => expect(b.stdout).toContain('leading'), {
      timeout: 15_000,
      interval: 10,
    });
    expect(Number(await redis.get(RedisKeys.fence(s.source)))).toBe(fenceOfA + 1);
    await writing;
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, s.source)).toBe(head), {
      timeout: 30_000,
    });
    expect(await survivors(redis, keys)).toEqual([]);
  });

  it('a paused old leader that wakes up cannot overwrite the checkpoint: its write is fenced (E_FENCED)', async () => {
    const s = await setup();
    const a = start(s.config);
    await vi.waitFor(() => expect(a.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const b = start(s.config);
    await vi.waitFor(() => expect(b.stdout).toContain('standby'), { timeout: 20_000 });
    await db.sql(`INSERT INTO ${s.table} VALUES (1, 1)`);
    const before = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, s.source)).toBe(before));
    const instanceOfA = await redis.get(RedisKeys.leader(s.source));
    expect(instanceOfA).not.toBe(null);

    // The leader freezes with work in its socket; the standby takes over and moves on.
    a.child.kill('SIGSTOP');
    for (let i = 2; i < 200; i++) await db.sql(`INSERT INTO ${s.table} VALUES (${i}, 1)`);
    await vi.waitFor(() => expect(b.stdout).toContain('leading'), { timeout: 10_000 });
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, s.source)).toBe(head), {
      timeout: 20_000,
    });

    // The fencing token is the last line of defence: make the old leader's
    // lease check pass (the lease names it again, as if its renewal had
    // raced the takeover), so that what stops it is its checkpoint write
    // refused for its stale token, not the lease renewal (E_LEADERSHIP_LOST).
    await redis.set(RedisKeys.leader(s.source), instanceOfA as string, 'PX', 60_000);

    // The old leader wakes up: it must stop without ever writing its (older) checkpoint.
    const seen = new Set<string | null>();
    const watcher = setInterval(() => {
      void checkpointText(redis, s.source).then((cp) => seen.add(cp));
    }, 5);
    a.child.kill('SIGCONT');
    const exit = await a.exited;
    clearInterval(watcher);
    expect(exit.code).toBe(1);
    expect(a.stdout + a.stderr).toContain('E_FENCED');
    expect(a.stdout + a.stderr).not.toContain('E_LEADERSHIP_LOST');
    expect([...seen].filter((cp) => cp !== head)).toEqual([]);
    expect(await checkpointText(redis, s.source)).toBe(head);
  });
});
