import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../examples/fastify-route.js';
import { validateConfig } from '../../src/config/schema.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/**
 * The README's library example (examples/fastify-route.ts), exactly as
 * published: built from a configuration, it serves rows through the cache,
 * turns a database write into a fresh read with no code of its own (the
 * daemon invalidates), and closes everything it opened.
 */
describe('examples/fastify-route.ts', () => {
  let db: TestDb;
  let daemon: TestDaemon;
  let app: FastifyInstance;
  const p = `ex${randomId()}`;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql(
      `CREATE TABLE users (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255))`,
    );
    await db.sql(`INSERT INTO users VALUES (1, 'ada@example.com', 'Ada'), (7, NULL, 'Ken')`);
    daemon = await startDaemon({ [`${db.name}.users`]: [`${p}:user:{id}`] });
    const config = validateConfig({
      source: { url: testEnv.sourceUrl },
      database: { url: `${testEnv.appUrl}/${db.name}` },
      redis: { url: testEnv.redisUrl },
      invalidation: { channel: daemon.channel },
      rules: [{ table: `${db.name}.users`, keys: [`${p}:user:{id}`] }],
    });
    app = await buildApp({ config, userKey: `${p}:user:{id}` });
  });

  afterAll(async () => {
    await app.close();
    await daemon.stop();
    await db.drop();
  });

  const get = async (url: string): Promise<{ status: number; body: unknown }> => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };

  it('serves a row, caches it under the daemon-invalidated key, and 404s a missing one', async () => {
    expect(await get('/users/1')).toEqual({
      status: 200,
      body: { id: '1', email: 'ada@example.com', name: 'Ada' },
    });
    // "007" is the same row and the same key as "7".
    expect(await get('/users/007')).toEqual({
      status: 200,
      body: { id: '7', email: null, name: 'Ken' },
    });
    const redis = testRedis();
    try {
      expect(await redis.get(`${p}:user:1`)).toBe(
        'v{"id":"1","email":"ada@example.com","name":"Ada"}',
      );
      expect(await redis.exists(`${p}:user:007`)).toBe(0);
    } finally {
      redis.disconnect();
    }
    expect(await get('/users/404')).toEqual({ status: 404, body: { error: 'no such user' } });
    expect((await get('/users/x1')).status).toBe(400);
  });

  it('a write through plain SQL is visible on a later read, with no invalidation code in the app', async () => {
    await get('/users/1'); // cached
    await db.sql(`UPDATE users SET name = 'Ada Lovelace' WHERE id = 1`);
    await vi.waitFor(
      async () => expect((await get('/users/1')).body).toMatchObject({ name: 'Ada Lovelace' }),
      { timeout: 5000, interval: 20 },
    );
    // A cached "no such user" is invalidated by the INSERT like any key.
    expect((await get('/users/42')).status).toBe(404);
    await db.sql(`INSERT INTO users VALUES (42, 'new@example.com', 'New')`);
    await vi.waitFor(async () => expect((await get('/users/42')).status).toBe(200), {
      timeout: 5000,
      interval: 20,
    });
  });
});
