import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

/** Where Redis is: `redis.*` of the configuration. */
export interface RedisTarget {
  readonly url: string;
  /** A Redis Cluster: `url` and `nodes` are seed nodes. */
  readonly cluster?: boolean;
  /** More cluster seed nodes, `HOST:PORT`. */
  readonly nodes?: readonly string[];
}

const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/**
 * Connection options without ioredis 6's `replyMapping`: every client here is
 * a `Redis<'legacy'>` / `Cluster<'legacy'>` (RESP2-shaped replies, whichever
 * protocol the connection speaks), the shapes the code reads.
 */
type ClientOptions = Omit<RedisOptions, 'replyMapping'>;

/**
 * A Redis client for one role (sink, checkpoint, subscriber, cache). Commands
 * fail fast while Redis is unreachable (the caller's own loop decides to
 * retry or pause), and reconnects back off up to 2 s.
 */
export function createRedis(url: string, role: string, extra: ClientOptions = {}): Redis {
  return new Redis(url, {
    connectionName: `sluice:${role}`,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: backoff,
    lazyConnect: false,
    ...extra,
  });
}

/**
 * The client of `target` for one role: a `Redis` for a single server, an
 * ioredis `Cluster` when `target.cluster` is set (seeded with the URL's node
 * and `target.nodes`; credentials and TLS from the URL apply to every node).
 * `extra` are per-connection options; `enableOfflineQueue` and
 * `enableAutoPipelining` also apply to the cluster as a whole.
 */
export function createRedisClient(
  target: RedisTarget,
  role: string,
  extra: ClientOptions = {},
): Redis | Cluster {
  if (target.cluster !== true) return createRedis(target.url, role, extra);
  const url = new URL(target.url);
  const seeds: ClusterNode[] = [
    { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) },
    ...(target.nodes ?? []).map((n) => {
      const colon = n.lastIndexOf(':');
      return {
        host: n.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
        port: Number(n.slice(colon + 1)),
      };
    }),
  ];
  const redisOptions: ClientOptions = {
    connectionName: `sluice:${role}`,
    maxRetriesPerRequest: 1,
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    ...extra,
  };
  return new Cluster(seeds, {
    redisOptions,
    clusterRetryStrategy: backoff,
    enableOfflineQueue: extra.enableOfflineQueue ?? true,
    enableAutoPipelining: extra.enableAutoPipelining ?? false,
    lazyConnect: false,
  });
}

/** True for an ioredis `Cluster` client. */
export function isCluster(client: Redis | Cluster): client is Cluster {
  return client.isCluster;
}

/** Closes a client: QUIT when connected, else disconnect; never throws. */
export async function closeRedis(client: Redis | Cluster): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}
