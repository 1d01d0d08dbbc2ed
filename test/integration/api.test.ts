import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { checkConfig, validateConfig, type SluiceConfig } from '../../src/config/schema.js';
import { createPool, type DbPool } from '../../src/db/createPool.js';
import { buildServer } from '../../src/http/buildServer.js';
import { createRedis } from '../../src/infra/redis.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { sampleValue } from '../helpers/metrics.js';
import { collectMessages, testRedis } from '../helpers/redis.js';

/**
 * The read API (`sluice serve`) on real MariaDB + Redis with the real daemon
 * in-process: each test reads through fastify.inject, writes with plain SQL
 * and waits (by polling, with a deadline) for the daemon's invalidation.
 */

interface Api {
  readonly app: FastifyInstance;
  readonly cache: SluiceCache;
  readonly pool: DbPool;
  readonly registry: Registry;
  close(): Promise<void>;
}

const WAIT = { timeout: 8000, interval: 20 };

describe('read API', () => {
  let db: TestDb;
  let daemon: TestDaemon;
  let redis: Redis;
  let config: SluiceConfig;
  let api: Api;
  const apis: Api[] = [];
  const p = `api${randomId()}`;
  const k = (s: string): string => `${p}:${s}`;

  async function startApi(
    overrides: { token?: string; logger?: pino.Logger; pool?: DbPool } = {},
  ): Promise<Api> {
    const cfg =
      overrides.token === undefined
        ? config
        : validateConfig({
            ...documentFor(),
            api: { ...documentFor().api, token: overrides.token },
          });
    const logger = overrides.logger ?? pino({ level: 'silent' });
    const registry = new Registry();
    const client = createRedis(testEnv.redisUrl, 'cache', { enableAutoPipelining: true });
    const cache = new SluiceCache({
      redis: client,
      channel: daemon.channel, // the daemon's: invalidations and heartbeats
      heartbeatMs: 1000,
      logger,
      registry,
    });
    await cache.start();
    const pool = overrides.pool ?? createPool(cfg.database.url, cfg.database.pool, logger);
    const app = await buildServer({ config: cfg, cache, pool, logger, registry });
    const handle: Api = {
      app,
      cache,
      pool,
      registry,
      close: async () => {
        await app.close();
        await cache.close();
        await pool.end();
        client.disconnect();
      },
    };
    apis.push(handle);
    return handle;
  }

  /** The daemon's rules: table → key templates, all under this test's prefix. */
  function rules(): Record<string, string[]> {
    return {
      [`${db.name}.users`]: [k('user:{id}'), k('user:email:{email}')],
      [`${db.name}.messages`]: [k('message:{id}'), k('chat:{chat_id}:messages')],
      [`${db.name}.tags`]: [k('tag:{name}')],
    };
  }

  function documentFor(): {
    source: object;
    database: object;
    redis: object;
    invalidation: object;
    rules: object[];
    api: { resources: Record<string, object> };
  } {
    return {
      source: { url: testEnv.sourceUrl },
      database: { url: `${testEnv.appUrl}/${db.name}`, pool: { connectionLimit: 10, maxIdle: 5 } },
      redis: { url: testEnv.redisUrl },
      invalidation: { channel: daemon.channel },
      rules: Object.entries(rules()).map(([table, keys]) => ({ table, keys })),
      api: {
        resources: {
          users: { table: `${db.name}.users`, key: k('user:{id}') },
          messages: {
            table: `${db.name}.messages`,
            key: k('message:{id}'),
            list: { by: 'chat_id', cursor: 'id', key: k('chat:{chat_id}:messages') },
          },
          tags: { table: `${db.name}.tags`, key: k('tag:{name}') },
        },
      },
    };
  }

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql(`CREATE TABLE users (
      id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255)
    ) ENGINE=InnoDB`);
    await db.sql(`CREATE TABLE messages (
      id BIGINT UNSIGNED PRIMARY KEY, chat_id BIGINT UNSIGNED NOT NULL, body TEXT,
      KEY idx_chat (chat_id, id)
    ) ENGINE=InnoDB`);
    // A string primary key under a case-insensitive collation.
    await db.sql(`CREATE TABLE tags (
      name VARCHAR(64) COLLATE utf8mb4_unicode_ci PRIMARY KEY, uses INT
    ) ENGINE=InnoDB`);
    await db.sql(`INSERT INTO users VALUES
      (1, 'ada@x', 'Ada'), (2, 'alan@x', 'Alan'), (3, 'grace@x', 'Grace'),
      (4, 'edsger@x', 'Edsger'), (5, 'barbara@x', 'Barbara'),
      (18446744073709551615, 'max@x', 'Max')`);
    await db.sql(`INSERT INTO messages VALUES
      (1, 1, 'm1'), (2, 1, 'm2'), (3, 1, 'm3'), (4, 1, 'm4'), (5, 1, 'm5'), (6, 1, 'm6'),
      (7, 1, 'm7'), (8, 2, 'other chat'), (9, 2, 'other chat 2')`);
    await db.sql(`INSERT INTO tags VALUES ('alpha', 1), ('zoë 🐳', 2)`);
    daemon = await startDaemon(rules());
    config = validateConfig(documentFor());
    api = await startApi();
    // L1 serves only while a daemon heartbeat is fresh (one per second).
    await vi.waitFor(() => expect(api.cache.l1Usable).toBe(true), WAIT);
  });

  afterAll(async () => {
    for (const a of apis) await a.close();
    // Guarded: beforeAll may have failed half-way.
    await (daemon as TestDaemon | undefined)?.stop();
    await (db as TestDb | undefined)?.drop();
    (redis as Redis | undefined)?.disconnect();
  });

  const get = (url: string, app = api.app): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'GET', url });

  const user = (id: number | string, name: string): Record<string, unknown> => ({
    id: String(id),
    email: `${name.toLowerCase()}@x`,
    name,
  });

  describe('GET /v1/{resource}/{id}', () => {
    it('X-Cache goes miss → l1 in one process, and l2 in another that has no L1 copy', async () => {
      const first = await get('/v1/users/2');
      expect(first.statusCode).toBe(200);
      expect(first.headers['x-cache']).toBe('miss');
      expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(first.json()).toEqual(user(2, 'Alan'));

      const second = await get('/v1/users/2');
      expect(second.headers['x-cache']).toBe('l1');
      expect(second.body).toBe(first.body);

      const other = await startApi();
      const third = await get('/v1/users/2', other.app);
      expect(third.headers['x-cache']).toBe('l2');
      expect(third.body).toBe(first.body);
      // The L2 entry is the one serializer's format, under the daemon's key.
      expect(await redis.get(k('user:2'))).toBe(`v${first.body}`);
    });

    it('an UPDATE is visible on the next read once the daemon has invalidated the key', async () => {
      expect((await get('/v1/users/3')).json()).toEqual(user(3, 'Grace'));
      expect((await get('/v1/users/3')).headers['x-cache']).toBe('l1');
      await db.sql(`UPDATE users SET name = 'Grace Hopper' WHERE id = 3`);
      const seen: string[] = [];
      const fresh = await vi.waitFor(async () => {
        const res = await get('/v1/users/3');
        seen.push(`${res.headers['x-cache'] as string}:${res.json<{ name: string }>().name}`);
        expect(res.json<{ name: string }>().name).toBe('Grace Hopper');
        return res;
      }, WAIT);
      // Fresh because the key was invalidated (read from the database), not by TTL.
      expect(fresh.headers['x-cache']).toBe('miss');
      expect(seen.every((s) => s.endsWith(':Grace') || s === 'miss:Grace Hopper')).toBe(true);
      // And it stays fresh: the next read is the refilled L1 entry.
      const next = await get('/v1/users/3');
      expect(next.headers['x-cache']).toBe('l1');
      expect(next.json<{ name: string }>().name).toBe('Grace Hopper');
    });

    it('a missing row is a cached 404 (negative entry) that an INSERT invalidates', async () => {
      const miss = await get('/v1/users/500');
      expect(miss.statusCode).toBe(404);
      expect(miss.headers['x-cache']).toBe('miss');
      expect(miss.json()).toEqual({
        error: { code: 'E_NOT_FOUND', message: 'users 500 not found' },
      });
      expect(await redis.get(k('user:500'))).toBe('n');
      const cached = await get('/v1/users/500');
      expect(cached.statusCode).toBe(404);
      expect(cached.headers['x-cache']).toBe('l1');

      await db.sql(`INSERT INTO users VALUES (500, 'new@x', 'New')`);
      const found = await vi.waitFor(async () => {
        const res = await get('/v1/users/500');
        expect(res.statusCode).toBe(200);
        return res;
      }, WAIT);
      expect(found.json()).toEqual(user(500, 'New'));
    });

    it('integer ids are canonical: 007 is 7, cached under the key the daemon deletes', async () => {
      const res = await get('/v1/users/0005');
      expect(res.json()).toEqual(user(5, 'Barbara'));
      expect(await redis.exists(k('user:5'))).toBe(1);
      expect(await redis.exists(k('user:0005'))).toBe(0);
      // BIGINT UNSIGNED max stays exact (a string, never a rounded number).
      const max = await get('/v1/users/18446744073709551615');
      expect(max.json()).toEqual(user('18446744073709551615', 'Max'));
    });

    it('string ids are exact: a case variant is a 404, never an alias the daemon would not invalidate', async () => {
      expect((await get('/v1/tags/alpha')).json()).toEqual({ name: 'alpha', uses: 1 });
      expect((await get(`/v1/tags/${encodeURIComponent('zoë 🐳')}`)).json()).toEqual({
        name: 'zoë 🐳',
        uses: 2,
      });
      // MariaDB's collation finds 'alpha' for 'ALPHA', but the daemon only ever
      // deletes tag:alpha: serving (and caching) it under tag:ALPHA could go stale.
      expect((await get('/v1/tags/ALPHA')).statusCode).toBe(404);
      expect((await get('/v1/tags/alpha%20')).statusCode).toBe(404);
      expect((await get(`/v1/tags/${'a'.repeat(255)}`)).statusCode).toBe(404);
      expect((await get(`/v1/tags/${'a'.repeat(256)}`)).statusCode).toBe(400);
    });
  });

  describe('GET /v1/{resource}?ids=', () => {
    it('returns items in request order (duplicates once) and the missing ids, exactly', async () => {
      const res = await get('/v1/users?ids=4,1,99,4,0001,98');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-cache']).toBe('miss');
      expect(res.json()).toEqual({
        items: [user(4, 'Edsger'), user(1, 'Ada')],
        missing: ['99', '98'],
      });
      // All six keys are now cached, the missing ones as negative entries.
      expect(await redis.get(k('user:99'))).toBe('n');
      const again = await get('/v1/users?ids=4,1,99,4,0001,98');
      expect(again.headers['x-cache']).toBe('l1');
      expect(again.body).toBe(res.body);
      // Mixed levels answer with the slowest one.
      expect((await get('/v1/users?ids=1,97')).headers['x-cache']).toBe('miss');
    });

    it('accepts 1000 ids and refuses 1001 with a 400', async () => {
      const ids = Array.from({ length: 1000 }, (_, i) => i + 10_000);
      const ok = await get(`/v1/users?ids=${ids.join(',')}`);
      expect(ok.statusCode).toBe(200);
      expect(ok.json<{ missing: string[] }>().missing).toHaveLength(1000);
      const tooMany = await get(`/v1/users?ids=${[...ids, 1].join(',')}`);
      expect(tooMany.statusCode).toBe(400);
      expect(tooMany.json()).toEqual({
        error: { code: 'E_BAD_REQUEST', message: 'ids: at most 1000 ids per request (got 1001)' },
      });
    });
  });

  describe('GET /v1/{resource}?{by}=X (keyset pages)', () => {
    const ids = (res: LightMyRequestResponse): string[] =>
      res.json<{ items: { id: string }[] }>().items.map((m) => m.id);
    const next = (res: LightMyRequestResponse): string | null =>
      res.json<{ nextCursor: string | null }>().nextCursor;

    it('pages are exact, newest first, and the last page says nextCursor: null', async () => {
      const p1 = await get('/v1/messages?chat_id=1&limit=3');
      expect(ids(p1)).toEqual(['7', '6', '5']);
      expect(next(p1)).toBe('5');
      expect(p1.json<{ items: unknown[] }>().items[0]).toEqual({
        id: '7',
        chat_id: '1',
        body: 'm7',
      });
      const p2 = await get('/v1/messages?chat_id=1&limit=3&before=5');
      expect(ids(p2)).toEqual(['4', '3', '2']);
      expect(next(p2)).toBe('2');
      const p3 = await get('/v1/messages?chat_id=1&limit=3&before=2');
      expect(ids(p3)).toEqual(['1']);
      expect(next(p3)).toBeNull();
      // Exactly full last page: no trailing empty page.
      const all = await get('/v1/messages?chat_id=1&limit=7');
      expect(ids(all)).toEqual(['7', '6', '5', '4', '3', '2', '1']);
      expect(next(all)).toBeNull();
      const empty = await get('/v1/messages?chat_id=3');
      expect(empty.json()).toEqual({ items: [], nextCursor: null });
      // Later pages are read from the database: no X-Cache.
      expect(p2.headers['x-cache']).toBeUndefined();
    });

    it('the first page is cached under the list key and invalidated by a new message in that chat only', async () => {
      const first = await get('/v1/messages?chat_id=1');
      expect(['miss', 'l1']).toContain(first.headers['x-cache']);
      expect((await get('/v1/messages?chat_id=1')).headers['x-cache']).toBe('l1');
      expect((await get('/v1/messages?chat_id=1&limit=2')).headers['x-cache']).toBe('l1');
      await get('/v1/messages?chat_id=2');
      expect(await redis.exists(k('chat:1:messages'), k('chat:2:messages'))).toBe(2);

      // A message in chat 2 invalidates chat 2's first page, not chat 1's.
      await db.sql(`INSERT INTO messages VALUES (10, 2, 'hello chat 2')`);
      await vi.waitFor(async () => expect(await redis.exists(k('chat:2:messages'))).toBe(0), WAIT);
      expect(await redis.exists(k('chat:1:messages'))).toBe(1);
      expect((await get('/v1/messages?chat_id=1')).headers['x-cache']).toBe('l1');

      await db.sql(`INSERT INTO messages VALUES (11, 1, 'hello chat 1')`);
      const fresh = await vi.waitFor(async () => {
        const res = await get('/v1/messages?chat_id=1&limit=2');
        expect(ids(res)).toEqual(['11', '7']);
        return res;
      }, WAIT);
      expect(fresh.headers['x-cache']).toBe('miss');
      expect(next(fresh)).toBe('7');
      expect(ids(await get('/v1/messages?chat_id=2&limit=2'))).toEqual(['10', '9']);
    });
  });

  describe('bad input', () => {
    const cases: Array<[string, string]> = [
      ['/v1/users/abc', 'params/id'],
      ['/v1/users/1.5', 'params/id'],
      ['/v1/users/-1', 'params/id'],
      ['/v1/users/123456789012345678901', 'params/id'],
      ['/v1/users/%E0%A4%A', 'not a valid url'],
      ['/v1/users', 'needs a query'],
      ['/v1/users?ids=', 'querystring/ids'],
      ['/v1/users?ids=1,,2', 'ids[1]'],
      ['/v1/users?ids=1,a', 'ids[1]'],
      ['/v1/users?ids=1&ids=2', 'querystring/ids'],
      ['/v1/messages?ids=1&limit=2', 'before and limit'],
      ['/v1/users?ids=1&limit=2', 'unknown query parameter "limit"'],
      ['/v1/users?foo=1', 'unknown query parameter "foo"'],
      ['/v1/users?chat_id=1', 'unknown query parameter "chat_id"'],
      ['/v1/messages?chat_id=1&limit=0', 'querystring/limit'],
      ['/v1/messages?chat_id=1&limit=501', 'querystring/limit'],
      ['/v1/messages?chat_id=1&limit=x', 'querystring/limit'],
      ['/v1/messages?chat_id=1&limit=2.5', 'querystring/limit'],
      ['/v1/messages?chat_id=1&before=abc', 'querystring/before'],
      ['/v1/messages?chat_id=1&before=-3', 'querystring/before'],
      ['/v1/messages?chat_id=x', 'querystring/chat_id'],
      ['/v1/messages?chat_id=1&ids=1', 'not both'],
      ['/v1/messages?before=3', 'needs a query'],
      [`/v1/tags/${'é'.repeat(256)}`, 'params/id'],
    ];

    it.each(cases)('%s → 400 E_BAD_REQUEST (%s)', async (url, fragment) => {
      const res = await get(url);
      expect(res.statusCode).toBe(400);
      const body = res.json<{ error: { code: string; message: string } }>();
      expect(body.error.code).toBe('E_BAD_REQUEST');
      expect(body.error.message).toContain(fragment);
    });

    it('unknown resources and routes are 404 E_NOT_FOUND', async () => {
      for (const url of ['/v1/nope/1', '/v1/nope', '/v2/users/1', '/']) {
        const res = await get(url);
        expect(res.statusCode).toBe(404);
        expect(res.json<{ error: { code: string } }>().error.code).toBe('E_NOT_FOUND');
      }
    });

    it('any path segment or query value gives 200, 400 or 404 with a JSON body: never a 500', async () => {
      const text = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.stringMatching(/^[0-9,]{0,30}$/),
        fc.constantFrom('', '0', '-1', '1e3', '%', '%zz', '..', '\u0000', ' 1', '1 '),
      );
      const param = fc.constantFrom('ids', 'chat_id', 'before', 'limit', 'x');
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('users', 'messages', 'tags', 'nope'),
          text,
          fc.array(fc.tuple(param, text), { maxLength: 3 }),
          fc.boolean(),
          async (resource, segment, query, raw) => {
            const qs = query
              .map(
                ([name, v]) => `${name}=${raw ? v.replace(/[#&?\s]/g, '') : encodeURIComponent(v)}`,
              )
              .join('&');
            const path = raw ? segment.replace(/[#?/\s]/g, '') : encodeURIComponent(segment);
            for (const url of [`/v1/${resource}/${path}`, `/v1/${resource}?${qs}`]) {
              const res = await get(url);
              expect([200, 400, 404]).toContain(res.statusCode);
              const body = res.json<{ error?: { code?: unknown } }>();
              if (res.statusCode !== 200) expect(body.error?.code).toMatch(/^E_/);
            }
          },
        ),
        { numRuns: 150 },
      );
    });

    it('any request headers give 200, 400, 401 or 404: never a 500', async () => {
      const headerName = fc.oneof(
        fc.constantFrom(
          'accept',
          'authorization',
          'content-type',
          'x-cache',
          'if-none-match',
          'range',
          'cookie',
        ),
        fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
      );
      // Header values: printable ASCII (what an HTTP client can send at all).
      const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,200}$/);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            '/v1/users/1',
            '/v1/users?ids=1,2',
            '/v1/messages?chat_id=1',
            '/metrics',
            '/readyz',
            '/v1/nope/1',
          ),
          fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
          async (url, headers) => {
            const res = await api.app.inject({ method: 'GET', url, headers });
            expect([200, 400, 401, 404, 503]).toContain(res.statusCode);
          },
        ),
        { numRuns: 150 },
      );
    });

    it('a real failure (the database gone) is a 500 E_INTERNAL, logged', async () => {
      const lines: string[] = [];
      const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
      const pool = createPool(config.database.url, {}, logger);
      const broken = await startApi({ logger, pool });
      await pool.end();
      const res = await get('/v1/users/123456', broken.app);
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({
        error: { code: 'E_INTERNAL', message: 'internal error (logged)' },
      });
      expect(lines.some((l) => l.includes('"request failed"') && l.includes('/v1/users/:id'))).toBe(
        true,
      );
    });
  });

  describe('health and metrics', () => {
    it('/healthz is 200; /readyz is 200 when Redis, MySQL and the subscription are up', async () => {
      const live = await get('/healthz');
      expect(live.statusCode).toBe(200);
      expect(live.json()).toEqual({ status: 'ok' });
      const ready = await get('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        status: 'ok',
        redis: true,
        mysql: true,
        subscribed: true,
        l1: true,
      });
    });

    it('/readyz is 503 degraded while the subscription is down', async () => {
      const other = await startApi();
      await other.cache.close(); // unsubscribes: L1 can no longer be trusted
      const res = await get('/readyz', other.app);
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 'degraded', subscribed: false, mysql: true });
    });

    it('/metrics has the cache, HTTP and process metrics; api.token guards it', async () => {
      await get('/v1/users/1');
      const text = (await get('/metrics')).body;
      expect(text).toMatch(/^sluice_cache_hits_total\{level="l1"\} [1-9]/m);
      expect(text).toMatch(/^sluice_cache_db_loads_total [1-9]/m);
      expect(text).toMatch(
        /^sluice_http_requests_total\{route="\/v1\/users\/:id",method="GET",status="200"\} [1-9]/m,
      );
      expect(text).toContain('sluice_http_request_duration_seconds_bucket');
      expect(text).toContain('process_cpu_user_seconds_total');

      // Counted per route template, method and status: exactly the requests made.
      const series = (status: number, metric = 'sluice_http_requests_total'): string =>
        `${metric}{route="/v1/users/:id",method="GET",status="${status}"}`;
      const count = (t: string, status: number, metric?: string): number =>
        sampleValue(t, series(status, metric)) ?? 0;
      const histogram = 'sluice_http_request_duration_seconds_count';
      const before = (await get('/metrics')).body;
      for (let i = 0; i < 3; i++) expect((await get('/v1/users/1')).statusCode).toBe(200);
      for (let i = 0; i < 2; i++) expect((await get('/v1/users/999999')).statusCode).toBe(404);
      const after = (await get('/metrics')).body;
      expect(count(after, 200) - count(before, 200)).toBe(3);
      expect(count(after, 404) - count(before, 404)).toBe(2);
      expect(count(after, 200, histogram) - count(before, 200, histogram)).toBe(3);
      expect(count(after, 404, histogram) - count(before, 404, histogram)).toBe(2);

      const guarded = await startApi({ token: 's3cret' });
      const denied = await get('/metrics', guarded.app);
      expect(denied.statusCode).toBe(401);
      expect(denied.json<{ error: { code: string } }>().error.code).toBe('E_UNAUTHORIZED');
      const wrong = await guarded.app.inject({
        url: '/metrics',
        headers: { authorization: 'Bearer nope' },
      });
      expect(wrong.statusCode).toBe(401);
      const allowed = await guarded.app.inject({
        url: '/metrics',
        headers: { authorization: 'Bearer s3cret' },
      });
      expect(allowed.statusCode).toBe(200);
      expect(allowed.body).toContain('sluice_cache_hits_total');
      // The rows themselves need no token.
      expect((await get('/v1/users/1', guarded.app)).statusCode).toBe(200);
    });

    it('start-up refuses a resource key that no rule of its table invalidates', () => {
      const doc = documentFor();
      doc.api.resources['stale'] = { table: `${db.name}.users`, key: k('person:{id}') };
      const result = checkConfig(doc);
      expect(result.ok).toBe(false);
      expect(result.ok ? [] : result.issues).toContainEqual({
        path: 'api.resources.stale.key',
        message: `"${k('person:{id}')}" is not invalidated by any rule for ${db.name}.users`,
      });
    });
  });

  it('the daemon published every invalidation the tests relied on', async () => {
    // Sanity check of the test wiring: API and daemon share one channel.
    const bus = await collectMessages(daemon.channel);
    await db.sql(`UPDATE users SET name = 'Ada L.' WHERE id = 1`);
    await vi.waitFor(
      () =>
        expect(
          bus.messages.some((m) => (m.keys as string[] | undefined)?.includes(k('user:1'))),
        ).toBe(true),
      WAIT,
    );
    await bus.close();
  });
});
