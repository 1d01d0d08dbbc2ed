import type { Cluster, Redis } from 'ioredis';
import { isCluster, readRepliesInline } from '../infra/redis.js';
import { ClusterBusSubscriber } from './ClusterBusSubscriber.js';

/**
 * A connection of its own for the invalidation channel, to what `redis`
 * reaches. On a Cluster: a ClusterBusSubscriber (one node's connection,
 * moved as the cluster changes). Otherwise a duplicate of the client (the
 * same server: a URL's, or the Sentinels' primary) with its own settings,
 * whatever the command client uses: a subscription is queued until the
 * connection is up and never auto-pipelined, and every message is parsed in
 * the read that brought it (readRepliesInline). Without `connectionName`
 * it keeps the client's.
 */
export function subscriberConnection(
  redis: Redis | Cluster,
  connectionName?: string,
): Redis | ClusterBusSubscriber {
  const named = connectionName === undefined ? {} : { connectionName };
  if (isCluster(redis)) return new ClusterBusSubscriber(redis, named);
  return readRepliesInline(
    redis.duplicate({ ...named, enableAutoPipelining: false, enableOfflineQueue: true }),
  );
}
