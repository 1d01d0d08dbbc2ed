import type { SluiceConfig } from '../config/schema.js';
import { createRedisClient } from '../infra/redis.js';
import { WriteBehindQueue } from '../jobs/WriteBehindQueue.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { SluiceCache, type SluiceCacheOptions } from '../cache/SluiceCache.js';

/** A cache built from the daemon's configuration, with the connections it opened. */
export interface ConfiguredCache {
  readonly cache: SluiceCache;
  /** Closes the cache, its write-behind queue and its Redis connections. */
  close(): Promise<void>;
}

/** The cache options the configuration decides: the daemon's channel, heartbeat and source. */
export function cacheOptions(
  config: SluiceConfig,
): Pick<SluiceCacheOptions, 'channel' | 'heartbeatMs' | 'fenceSource' | 'fenceWaitMs'> {
  return {
    channel: config.invalidation.channel,
    heartbeatMs: config.invalidation.heartbeatMs,
    fenceSource: config.source.name,
    fenceWaitMs: config.api.fenceWaitMs,
  };
}

/**
 * Composition (here, not in cache/: the cache does not import jobs/, which
 * sits on it). Builds a SluiceCache from the same configuration file the daemon uses:
 * its Redis, its invalidation channel and heartbeat period, and a
 * write-behind queue that the daemon's worker (`sluice run`) processes.
 * `overrides` replaces any cache option (L1 size, TTLs, logger, registry).
 */
export async function cacheFromConfig(
  config: SluiceConfig,
  overrides: Partial<Omit<SluiceCacheOptions, 'redis'>> = {},
): Promise<ConfiguredCache> {
  // A single Redis or a cluster (`redis.cluster`), like the daemon's.
  const redis = createRedisClient(config.redis, 'cache', { enableAutoPipelining: true });
  // BullMQ needs its own connection with unlimited retries per request.
  const jobsConnection = createRedisClient(config.redis, 'write-behind', {
    maxRetriesPerRequest: null,
  });
  redis.on('error', () => undefined);
  jobsConnection.on('error', () => undefined);
  const writeBehind = new WriteBehindQueue({
    connection: jobsConnection,
    prefix: RedisKeys.jobsPrefix(config.source.name),
  });
  const cache = new SluiceCache({
    redis,
    ...cacheOptions(config),
    writeBehind,
    ...overrides,
  });
  await cache.start();
  return {
    cache,
    close: async () => {
      await cache.close();
      await writeBehind.close();
      redis.disconnect();
      jobsConnection.disconnect();
    },
  };
}
