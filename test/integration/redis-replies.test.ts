import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { subscriberConnection } from '../../src/bus/subscriberConnection.js';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { createRedisClient } from '../../src/infra/redis.js';
import { randomId, testEnv } from '../helpers/env.js';
import { deliveries, pingDeliveries } from '../helpers/redisReplies.js';

/**
 * How a reply reaches ioredis's parser. Node's Readable calls 'data'
 * listeners from the socket read itself only when one was added with
 * `on('data')`; ioredis's own is prepended, which does not count, and each
 * reply then waited for a later tick (docs/benchmarks.md, ninth sitting).
 * Every client made from `redis.*` must take the direct path, on its first
 * connection and after a reconnect.
 */
describe('Redis replies are parsed in the read that received them', () => {
  const opened: Redis[] = [];

  afterEach(() => {
    for (const c of opened.splice(0)) c.disconnect();
  });

  /** A client of the configuration's factory, ready. */
  async function ready(url: string): Promise<Redis> {
    const client = createRedisClient({ url }, 'test') as Redis;
    opened.push(client);
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5000 });
    return client;
  }

  it('on a client of redis.url, for every reply', async () => {
    const client = await ready(testEnv.redisUrl);
    expect(await pingDeliveries(client, 5)).toEqual([true, true, true, true, true]);
  });

  it('on the new socket after a reconnect', async () => {
    const client = await ready(testEnv.redisUrl);
    const first = client.stream;
    client.disconnect(true); // ioredis reconnects with a new socket
    await vi.waitFor(
      () => {
        expect(client.stream).not.toBe(first);
        expect(client.status).toBe('ready');
      },
      { timeout: 5000 },
    );
    expect(await pingDeliveries(client, 5)).toEqual([true, true, true, true, true]);
  });

  it("on the cache's own subscriber (a duplicate of its client), for bus messages", async () => {
    const channel = `sluice:test:replies-${randomId()}`;
    const cache = new SluiceCache({ redis: await ready(testEnv.redisUrl), channel });
    try {
      await cache.start(); // subscribed
      // Private: the connection the cache made for itself.
      const subscriber = (cache as unknown as { subscriber: Redis }).subscriber;
      const publisher = await ready(testEnv.redisUrl);
      const inline = await deliveries(subscriber, async () => {
        let received = 0;
        const count = (): void => void received++;
        subscriber.on('message', count);
        for (let seq = 1; seq <= 3; seq++) {
          await publisher.publish(channel, JSON.stringify({ v: 1, src: 'test', seq, keys: [] }));
          await vi.waitFor(() => expect(received).toBe(seq), { timeout: 5000 });
        }
        subscriber.removeListener('message', count);
      });
      expect(inline).toEqual([true, true, true]);
    } finally {
      await cache.close();
    }
  });

  it("on a subscriber connection made for a role (sluice verify's), named for it", async () => {
    const channel = `sluice:test:replies-${randomId()}`;
    const client = await ready(testEnv.redisUrl);
    const subscriber = subscriberConnection(client, 'sluice:test-subscriber') as Redis;
    opened.push(subscriber);
    await vi.waitFor(() => expect(subscriber.status).toBe('ready'), { timeout: 5000 });
    expect(await subscriber.client('GETNAME')).toBe('sluice:test-subscriber');
    expect(await client.client('GETNAME')).toBe('sluice:test'); // the client keeps its own
    await subscriber.subscribe(channel);
    const publisher = await ready(testEnv.redisUrl);
    let received = 0;
    subscriber.on('message', () => void received++);
    const inline = await deliveries(subscriber, async () => {
      for (let seq = 1; seq <= 3; seq++) {
        await publisher.publish(channel, `m${seq}`);
        await vi.waitFor(() => expect(received).toBe(seq), { timeout: 5000 });
      }
    });
    expect(inline).toEqual([true, true, true]);
  });
});
