import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, daemonConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';
import { redisDir, services } from './services.js';

/** The read API while Redis is down: answers from the database, never a stale L1, L1 reset on return. */
describe('read API through a Redis outage', () => {
  let db: TestDb;
  let redis: Redis;
  const procs: CliProcess[] = [];

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
  });
  afterAll(async () => {
    for (const p of procs) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await db.drop();
    redis.disconnect();
  });

  it('answers from the database (X-Cache: miss), /readyz degraded, L1 cleared when the subscription returns', async () => {
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64))');
    await db.sql("INSERT INTO users VALUES (1, 'before')");
    const p = `api${randomId()}`;
    const source = `api-${randomId()}`;
    const port = await freePort();
    const config = daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.users`]: [`${p}:user:{id}`] },
      top: `api:\n  listen: 127.0.0.1:${port}\n  resources:\n    users: { table: ${db.name}.users, key: "${p}:user:{id}" }`,
    });
    const daemon = new CliProcess(['run', '--config', config]);
    const api = new CliProcess(['serve', '--config', config]);
    procs.push(daemon, api);
    const base = `http://127.0.0.1:${port}`;
    const get = async (): Promise<{ cache: string | null; name: string }> => {
      const res = await fetch(`${base}/v1/users/1`);
      expect(res.status).toBe(200);
      return {
        cache: res.headers.get('x-cache'),
        name: ((await res.json()) as { name: string }).name,
      };
    };
    const resets = async (): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(/^sluice_cache_l1_resets_total (\d+)/m.exec(text)?.[1] ?? NaN);
    };
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(200), {
      timeout: 30_000,
    });
    await vi.waitFor(async () => expect((await get()).cache).toBe('l1'), { timeout: 10_000 });
    const resetsBefore = await resets();

    await redis.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(503), {
      timeout: 10_000,
    });
    // While Redis is down, a write is visible at once: L1 is bypassed, reads go to the database.
    await db.sql("UPDATE users SET name = 'during' WHERE id = 1");
    expect(await get()).toEqual({ cache: 'miss', name: 'during' });

    services('start-redis');
    rmSync(join(redisDir, 'dump.rdb'), { force: true });
    redis.disconnect();
    redis = testRedis();
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(200), {
      timeout: 30_000,
    });
    expect(await resets()).toBeGreaterThan(resetsBefore);
    // Once the daemon has caught up, the value is fresh from every level.
    const head = await db.headText();
    await vi.waitFor(
      async () => {
        const raw = await redis.get(RedisKeys.checkpoint(source));
        const cp = raw === null ? null : (JSON.parse(raw) as { file: string; pos: number });
        expect(cp && `${cp.file}:${cp.pos}`).toBe(head);
      },
      { timeout: 30_000 },
    );
    expect((await get()).name).toBe('during');
    expect((await get()).name).toBe('during');
    // Nothing in either process's output contains a password.
    for (const out of [daemon.stdout, daemon.stderr, api.stdout, api.stderr]) {
      expect(out).not.toContain('sluice-secret');
    }
  });
});
