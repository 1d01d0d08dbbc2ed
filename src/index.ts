/**
 * Sluice as a library: the multi-level cache the daemon keeps consistent,
 * plus the key and configuration helpers it shares with the daemon.
 */
export { SluiceCache } from './cache/SluiceCache.js';
export type {
  CacheRead,
  CacheSource,
  Loader,
  LockOptions,
  ManyLoader,
  ReadOptions,
  SetOptions,
  SluiceCacheOptions,
  WriteBehindSink,
} from './cache/SluiceCache.js';
export { cacheFromConfig, type ConfiguredCache } from './cli/cacheFromConfig.js';
export { fenceToken, type StatementRunner } from './db/fenceToken.js';
export { parseFenceToken, type FenceToken } from './bus/Watermark.js';
export {
  ClusterBusSubscriber,
  type ClusterBusSubscriberOptions,
} from './bus/ClusterBusSubscriber.js';
export type { SubscriberConnection } from './bus/BusSubscriber.js';
export { createRedisClient, type RedisTarget } from './infra/redis.js';
export { WriteBehindQueue, type WriteBehindQueueOptions } from './jobs/WriteBehindQueue.js';
export type { CacheStatsSnapshot } from './cache/CacheStats.js';
export type { LocalCacheOptions } from './cache/LocalCache.js';
export { KeyTemplate } from './keys/KeyTemplate.js';
export { RedisKeys } from './keys/RedisKeys.js';
export { loadConfig } from './config/loader.js';
export type { SluiceConfig } from './config/schema.js';
export { SluiceError, ERROR_CODES, type ErrorCode } from './errors/index.js';
