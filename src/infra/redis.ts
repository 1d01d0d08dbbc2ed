import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis client for one role (sink, checkpoint, subscriber, cache). Commands
 * fail fast while Redis is unreachable (the caller's own loop decides to
 * retry or pause), and reconnects back off up to 2 s.
 */
export function createRedis(url: string, role: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: `sluice:${role}`,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
    ...extra,
  });
}

/** Closes a client: QUIT when connected, else disconnect; never throws. */
export async function closeRedis(client: Redis): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}
