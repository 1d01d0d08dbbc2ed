import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RemoteCache } from '../../src/cache/RemoteCache.js';
import { systemClock } from '../../src/infra/clock.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { freePort, randomId } from '../helpers/env.js';
import { collectMessages, testRedis } from '../helpers/redis.js';

/** L2 on a real Redis: the lease protocol, locks, removal, and what happens when Redis fails. */
describe('RemoteCache (real Redis)', () => {
  let redis: Redis;
  let l2: RemoteCache;
  let p: string;
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );

  beforeAll(() => {
    redis = testRedis();
    l2 = new RemoteCache(redis, logger, 2000);
  });
  afterAll(() => {
    redis.disconnect();
  });
  const key = (name: string): string => `${p}:${name}`;
  const fresh = (): void => {
    p = `l2${randomId()}`;
  };

  it('get and mget: values, null for missing keys', async () => {
    fresh();
    await redis.set(key('a'), 'v1');
    expect(await l2.get(key('a'))).toBe('v1');
    expect(await l2.get(key('none'))).toBe(null);
    expect(await l2.mget([key('a'), key('none')])).toEqual(['v1', null]);
  });

  it('leaseGet: a hit; else the lease for this token; else busy with the remaining time', async () => {
    fresh();
    await redis.set(key('hit'), 'vx');
    expect(await l2.leaseGet(key('hit'), 't1')).toEqual({ kind: 'hit', raw: 'vx' });
    expect(await l2.leaseGet(key('k'), 't1')).toEqual({ kind: 'granted' });
    expect(await redis.get(RedisKeys.lease(key('k')))).toBe('t1');
    const pttl = await redis.pttl(RedisKeys.lease(key('k')));
    expect(pttl).toBeGreaterThan(1500);
    expect(pttl).toBeLessThanOrEqual(2000);
    const busy = await l2.leaseGet(key('k'), 't2');
    expect(busy?.kind).toBe('busy');
    expect(busy?.kind === 'busy' ? busy.pttl : 0).toBeGreaterThan(1500);
    expect(busy?.kind === 'busy' ? busy.pttl : 0).toBeLessThanOrEqual(2000);
  });

  it('fill writes only with the lease holder token, with the TTL, and removes the lease', async () => {
    fresh();
    await l2.leaseGet(key('f'), 'mine');
    expect(await l2.fill(key('f'), 'theirs', 'vno', 10_000)).toBe(false);
    expect(await redis.get(key('f'))).toBe(null);
    expect(await l2.fill(key('f'), 'mine', 'vyes', 10_000.4)).toBe(true);
    expect(await redis.get(key('f'))).toBe('vyes');
    const pttl = await redis.pttl(key('f'));
    expect(pttl).toBeGreaterThan(9000);
    expect(pttl).toBeLessThanOrEqual(10_000);
    expect(await redis.exists(RedisKeys.lease(key('f')))).toBe(0);
    // A second fill with the same token has no lease any more.
    expect(await l2.fill(key('f'), 'mine', 'vagain', 10_000)).toBe(false);
    expect(await redis.get(key('f'))).toBe('vyes');
  });

  it('fill rounds its TTL to at least 1 ms', async () => {
    fresh();
    await l2.leaseGet(key('t'), 'tok');
    expect(await l2.fill(key('t'), 'tok', 'v1', 0.2)).toBe(true);
  });

  it("take: a writer's lease replaces any reader's and drops the old value", async () => {
    fresh();
    await redis.set(key('w'), 'vold');
    await redis.set(RedisKeys.lease(key('w')), 'reader');
    expect(await l2.take(key('w'), 'writer')).toBe(true);
    expect(await redis.get(key('w'))).toBe(null);
    expect(await redis.get(RedisKeys.lease(key('w')))).toBe('writer');
    expect(await l2.fill(key('w'), 'reader', 'vstale', 1000)).toBe(false);
    expect(await l2.fill(key('w'), 'writer', 'vnew', 1000)).toBe(true);
  });

  it('set: a plain SET with a lifetime', async () => {
    fresh();
    expect(await l2.set(key('s'), 'vs', 5000)).toBe(true);
    expect(await redis.get(key('s'))).toBe('vs');
    const pttl = await redis.pttl(key('s'));
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
  });

  it('locks: taken once, released only by their owner', async () => {
    fresh();
    const lock = RedisKeys.lock(key('l'));
    expect(await l2.acquireLock(lock, 'a', 5000)).toBe(true);
    const pttl = await redis.pttl(lock);
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
    expect(await l2.acquireLock(lock, 'b', 5000)).toBe(false);
    expect(await l2.releaseLock(lock, 'b')).toBe(false);
    expect(await redis.get(lock)).toBe('a');
    expect(await l2.releaseLock(lock, 'a')).toBe(true);
    expect(await redis.exists(lock)).toBe(0);
  });

  it('unlink removes keys and their leases; unlinkPattern removes what a glob matches', async () => {
    fresh();
    const keys = [key('u1'), key('u2')];
    for (const k of keys) await redis.set(k, 'v1');
    await redis.set(RedisKeys.lease(key('u1')), 'tok');
    await redis.set(key('x:1'), 'v1');
    await redis.set(key('x:2'), 'v1');
    await redis.set(key('y:1'), 'v1');
    expect(await l2.unlink(keys)).toBe(true);
    expect(await redis.exists(...keys, RedisKeys.lease(key('u1')))).toBe(0);
    expect(await l2.unlinkPattern(`${p}:x:*`)).toBe(2);
    expect(await redis.exists(key('x:1'), key('x:2'), key('y:1'))).toBe(1);
  });

  it('publish sends the message on the channel', async () => {
    fresh();
    const channel = `sluice:test:${p}`;
    const bus = await collectMessages(channel);
    expect(await l2.publish(channel, '{"v":1,"src":"x","seq":1}')).toBe(true);
    await expect.poll(() => bus.messages, { timeout: 5000 }).toEqual([{ v: 1, src: 'x', seq: 1 }]);
    await bus.close();
  });

  describe('when Redis fails', () => {
    it('a client known to be down: every operation degrades at once and is counted', async () => {
      const closed = testRedis();
      await closed.quit();
      const down = new RemoteCache(closed, logger, 2000);
      expect(await down.get('k')).toBeUndefined();
      expect(await down.mget(['k'])).toBeUndefined();
      expect(await down.leaseGet('k', 't')).toBeUndefined();
      expect(await down.fill('k', 't', 'v1', 1000)).toBe(false);
      expect(await down.take('k', 't')).toBe(false);
      expect(await down.set('k', 'v1', 1000)).toBe(false);
      expect(await down.acquireLock('l', 't', 1000)).toBeUndefined();
      expect(await down.releaseLock('l', 't')).toBe(false);
      expect(await down.unlink(['k'])).toBe(false);
      expect(await down.unlinkPattern('k*')).toBeUndefined();
      expect(await down.publish('c', 'm')).toBe(false);
      expect(down.errors).toBe(11);
    });

    it.each(['reconnecting', 'end', 'close'])(
      "status '%s': known to be down, the command is not even sent",
      async (status) => {
        const client = testRedis();
        const l = new RemoteCache(client, logger, 2000);
        Object.defineProperty(client, 'status', { value: status, configurable: true });
        const get = vi.spyOn(client, 'get');
        logs.length = 0;
        expect(await l.get('k')).toBeUndefined();
        expect(get).not.toHaveBeenCalled();
        expect(l.errors).toBe(1);
        expect(logs).toEqual([]); // degraded, not an incident to log
        client.disconnect();
      },
    );

    /**
     * A client whose every command fails at once: nothing listens on its
     * port and it queues nothing offline. (A connection in subscriber mode no
     * longer refuses commands: ioredis 6 speaks RESP3, where it may run them.)
     */
    async function refusing(): Promise<Redis> {
      const client = new Redis({
        host: '127.0.0.1',
        port: await freePort(),
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      return client;
    }

    it('each failing operation is caught, counted, and logged with E_REDIS and its name', async () => {
      const sub = await refusing();
      const ops: Array<[string, (l: RemoteCache) => Promise<unknown>]> = [
        ['get', (l) => l.get('k')],
        ['mget', (l) => l.mget(['k'])],
        ['leaseGet', (l) => l.leaseGet('k', 't')],
        ['leaseFill', (l) => l.fill('k', 't', 'v1', 1000)],
        ['leaseTake', (l) => l.take('k', 't')],
        ['set', (l) => l.set('k', 'v1', 1000)],
        ['lock', (l) => l.acquireLock('l', 't', 1000)],
        ['lockRelease', (l) => l.releaseLock('l', 't')],
        ['unlink', (l) => l.unlink(['k'])],
        ['publish', (l) => l.publish('c', 'm')],
        ['unlinkPattern', (l) => l.unlinkPattern('k*')],
      ];
      for (const [name, op] of ops) {
        logs.length = 0;
        const l = new RemoteCache(sub, logger, 2000);
        await op(l);
        expect(l.errors, name).toBe(1);
        expect(logs, name).toEqual([
          expect.objectContaining({
            level: 40,
            component: 'l2',
            code: 'E_REDIS',
            op: name,
            err: expect.stringContaining("Stream isn't writeable") as unknown,
            msg: 'redis unavailable: serving from the database without caching',
          }),
        ]);
      }
      sub.disconnect();
    });

    it('failures are logged at most once per 5 s (all are counted)', async () => {
      const sub = await refusing();
      let now = 1_000_000;
      const clock = { ...systemClock, now: () => now };
      const l = new RemoteCache(sub, logger, 2000, clock);
      logs.length = 0;
      await l.get('k');
      now += 5000;
      await l.get('k');
      expect(logs).toHaveLength(1);
      now += 1;
      await l.get('k');
      expect(logs).toHaveLength(2);
      expect(l.errors).toBe(3);
      sub.disconnect();
    });
  });
});
