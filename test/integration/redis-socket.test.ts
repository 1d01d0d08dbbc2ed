import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedisClient } from '../../src/infra/redis.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { TestDb } from '../helpers/db.js';
import { startDaemon } from '../helpers/daemon.js';
import { randomId } from '../helpers/env.js';
import { atOrAfter } from '../helpers/positions.js';
import { checkpointText, plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * `redis.url: unix:///…`: a co-located Redis reached by its Unix socket
 * (the test Redis of scripts/services.sh listens on one too; it says where).
 */
describe('Redis by its Unix socket', () => {
  let redis: Redis;
  let socket: string;
  const opened: Array<{ disconnect(): void }> = [];

  beforeAll(async () => {
    redis = testRedis();
    const [, path] = (await redis.config('GET', 'unixsocket')) as [string, string];
    if (path === '')
      throw new Error('the test Redis has no unixsocket (scripts/services.sh starts it with one)');
    socket = path;
  });

  afterAll(() => {
    for (const c of opened) c.disconnect();
    redis.disconnect();
  });

  /** A client of the configuration's factory, closed after the suite. */
  function client(url: string, role: string): Redis {
    const c = createRedisClient({ url }, role) as Redis;
    opened.push(c);
    return c;
  }

  /** `CLIENT INFO` of `c` as fields. */
  async function clientInfo(c: Redis): Promise<Record<string, string>> {
    const line = (await c.call('CLIENT', 'INFO')) as string;
    return Object.fromEntries(
      line
        .trim()
        .split(' ')
        .map((f) => f.split('=', 2) as [string, string]),
    );
  }

  it('connects through the socket, named by its role, to the database the URL names', async () => {
    const c = client(`unix://${socket}?db=5`, 'socket-test');
    const info = await clientInfo(c);
    expect(info).toMatchObject({ addr: `${socket}:0`, name: 'sluice:socket-test', db: '5' });
    expect(await clientInfo(client(`unix://${socket}`, 'socket-db0'))).toMatchObject({
      addr: `${socket}:0`,
      db: '0',
    });
  });

  it('logs in with the ACL user and password of the URL', async () => {
    const user = `sluice-sock-${randomId()}`;
    const password = `pw:${randomId()}@`;
    await redis.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
    try {
      const c = client(
        `unix://${user}:${encodeURIComponent(password)}@localhost${socket}`,
        'socket-acl',
      );
      expect(await c.call('ACL', 'WHOAMI')).toBe(user);
    } finally {
      await redis.call('ACL', 'DELUSER', user);
    }
  });

  it('the daemon deletes exactly the keys of a changed row and stores its checkpoint through the socket', async () => {
    const db = await TestDb.create();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB');
    const p = `sock${randomId()}`;
    const daemon = await startDaemon(
      { [`${db.name}.users`]: [`${p}:user:{id}`] },
      { redis: () => createRedisClient({ url: `unix://${socket}` }, 'sink') },
    );
    try {
      expect(await clientInfo(daemon.redis as Redis)).toMatchObject({ addr: `${socket}:0` });
      const kept = await plant(redis, [`${p}:user:2`]);
      await plant(redis, [`${p}:user:1`, RedisKeys.lease(`${p}:user:1`)]);
      await db.sql(`INSERT INTO users VALUES (1, 'a')`);
      await vi.waitFor(
        async () =>
          expect(await survivors(redis, [`${p}:user:1`, RedisKeys.lease(`${p}:user:1`)])).toEqual(
            [],
          ),
        { timeout: 5000, interval: 20 },
      );
      expect(await survivors(redis, kept)).toEqual(kept);
      // The checkpoint follows through the same socket once the round is acknowledged:
      // it reaches the INSERT's end (other tests' writes may take it further).
      const head = await db.headText();
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(redis, daemon.source), head)).toBe(true),
        { timeout: 5000, interval: 20 },
      );
    } finally {
      await daemon.stop();
      await db.drop();
    }
  });
});
