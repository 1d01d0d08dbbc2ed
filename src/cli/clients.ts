import type { Cluster, Redis } from 'ioredis';
import { describeRedis } from '../config/redact.js';
import { SluiceError } from '../errors/index.js';
import { closeRedis, createRedisClient, type RedisTarget } from '../infra/redis.js';
import { TIMED_OUT, withTimeout } from '../infra/timeout.js';
import { ServerInfo } from '../source-admin/ServerInfo.js';

const CONNECT_TIMEOUT_MS = 5000;

/**
 * Runs `fn` with a Redis client (`redis.*`: a single Redis or a cluster)
 * that is known to be reachable, and closes it. An unreachable Redis is
 * E_REDIS naming the redacted URL (or the Sentinel group).
 */
export async function withRedis<T>(
  target: RedisTarget,
  fn: (redis: Redis | Cluster) => Promise<T>,
): Promise<T> {
  const redis = createRedisClient(target, 'cli', {
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  redis.on('error', () => undefined); // reported by the failing command below
  try {
    try {
      // A cluster client waits for the cluster instead of failing: bound it.
      if ((await withTimeout(redis.ping(), CONNECT_TIMEOUT_MS)) === TIMED_OUT) {
        throw new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`);
      }
    } catch (cause) {
      throw new SluiceError(
        'E_REDIS',
        `cannot reach Redis at ${describeRedis(target)}: ${(cause as Error).message}`,
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
