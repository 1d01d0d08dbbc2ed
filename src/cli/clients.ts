import type { Redis } from 'ioredis';
import { redactUrl } from '../config/redact.js';
import { SluiceError } from '../errors/index.js';
import { closeRedis, createRedis } from '../infra/redis.js';
import { ServerInfo } from '../source-admin/ServerInfo.js';

/**
 * Runs `fn` with a Redis client that is known to be reachable, and closes it.
 * An unreachable Redis is E_REDIS naming the redacted URL.
 */
export async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = createRedis(url, 'cli', { maxRetriesPerRequest: 0, connectTimeout: 5000 });
  redis.on('error', () => undefined); // reported by the failing command below
  try {
    try {
      await redis.ping();
    } catch (cause) {
      throw new SluiceError(
        'E_REDIS',
        `cannot reach Redis at ${redactUrl(url)}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    return await fn(redis);
  } finally {
    await closeRedis(redis);
  }
}

/** Runs `fn` with an administrative connection to the source server, and closes it. */
export async function withServer<T>(
  url: string,
  fn: (server: ServerInfo) => Promise<T>,
): Promise<T> {
  const server = await ServerInfo.connect(url);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}
