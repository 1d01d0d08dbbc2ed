import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.js';
import { isCluster } from '../../infra/redis.js';
import { ClusterTransport } from './ClusterTransport.js';
import { SingleRedisTransport } from './SingleRedisTransport.js';
import type { ReplicaWait, Transport } from './Transport.js';

/** Most keys one round trip carries when sealed batches queue up behind a slow Redis. */
export const ROUND_MAX_KEYS = 10_000;

/** The transport for a client, and whether its rounds hold one item at most (a cluster). */
export function createTransport(
  redis: Redis | Cluster,
  channel: string,
  clock: Clock,
  logger: Logger,
  wait: ReplicaWait | null = null,
): { readonly transport: Transport; readonly oneItemPerRound: boolean } {
  const options = { channel, clock, logger, wait };
  return isCluster(redis)
    ? { transport: new ClusterTransport(redis, options), oneItemPerRound: true }
    : { transport: new SingleRedisTransport(redis, options), oneItemPerRound: false };
}
