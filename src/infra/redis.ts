import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { backoffDelay, REDIS_BACKOFF } from './backoff.js';
import { isRedisSocketUrl, parseRedisSocketUrl } from './redisSocket.js';

/** Where Redis is: `redis.*` of the configuration. */
export interface RedisTarget {
  /** A single server or a cluster seed; absent with `sentinels`. */
  readonly url?: string | undefined;
  /** A Redis Cluster: `url` and `nodes` are seed nodes. */
  readonly cluster?: boolean | undefined;
  /** More cluster seed nodes, `HOST:PORT`. */
  readonly nodes?: readonly string[] | undefined;
  /** Redis Sentinel, `HOST:PORT` each: they name the primary of the group `name`. */
  readonly sentinels?: readonly string[] | undefined;
  readonly name?: string | undefined;
  /** With `sentinels`: credentials, database and TLS of the servers they name. */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly db?: number | undefined;
  readonly tls?: boolean | undefined;
  /** With `sentinels`: credentials and TLS of the Sentinels. */
  readonly sentinelUsername?: string | undefined;
  readonly sentinelPassword?: string | undefined;
  readonly sentinelTls?: boolean | undefined;
}

/** ioredis's reconnect delay before attempt `times`: the one backoff formula. */
const backoff = (times: number): number => backoffDelay(times, REDIS_BACKOFF);

/**
 * Connection options without ioredis 6's `replyMapping`: every client here is
 * a `Redis<'legacy'>` / `Cluster<'legacy'>` (RESP2-shaped replies, whichever
 * protocol the connection speaks), the shapes the code reads.
 */
type ClientOptions = Omit<RedisOptions, 'replyMapping'>;

/**
 * A server demoted to replica under a live connection (a Sentinel failover
 * that kept the old primary, a managed endpoint that moved) answers writes
 * with READONLY: reconnect, which finds the primary again. The failed
 * command is not resent; its caller retries.
 */
const reconnectOnReadonly = (err: Error): boolean => err.message.startsWith('READONLY');

const noop = (): void => undefined;

/**
 * Makes `client` hand each reply to its parser in the socket read that
 * received it. Node's Readable calls its 'data' listeners straight from the
 * read only when a listener was added with `on('data')`; ioredis adds its
 * parser with `prependListener`, which does not count, so every reply was
 * buffered and delivered on a later tick (emitReadable, flow, read; about
 * 2 % of a round trip's client CPU, docs/benchmarks.md, ninth sitting). A no-op
 * listener added the usual way on each new connection's socket turns the
 * direct path on; ioredis's parser still runs first. For clients Sluice
 * makes (this module's, the cache's own subscriber); call before connecting.
 */
export function readRepliesInline<T extends Redis>(client: T): T {
  client.on('connect', () => {
    const stream = client.stream as NodeJS.ReadableStream | undefined;
    if (stream !== undefined && !stream.listeners('data').includes(noop)) stream.on('data', noop);
  });
  return client;
}

/** The options every single-server client shares (one per role). */
function baseOptions(role: string): ClientOptions {
  return {
    connectionName: `sluice:${role}`,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: backoff,
    reconnectOnError: reconnectOnReadonly,
    lazyConnect: false,
  };
}

/**
 * A Redis client for one role (sink, checkpoint, subscriber, cache). Commands
 * fail fast while Redis is unreachable (the caller's own loop decides to
 * retry or pause), and reconnects back off up to 2 s.
 */
export function createRedis(url: string, role: string, extra: ClientOptions = {}): Redis {
  if (isRedisSocketUrl(url)) {
    const socket = parseRedisSocketUrl(url);
    // The configuration refused a bad one already; the message never repeats the URL.
    if ('error' in socket) throw new Error(`createRedis: redis.url ${socket.error}`);
    return readRepliesInline(new Redis({ ...socket, ...baseOptions(role), ...extra }));
  }
  return readRepliesInline(new Redis(url, { ...baseOptions(role), ...extra }));
}

/**
 * A client of the primary that `target.sentinels` name for `target.name`.
 * ioredis asks the Sentinels on every (re)connection, checks the server's
 * role, and with `failoverDetector` drops the connection on a Sentinel's
 * `+switch-master`, so a failover is followed at once (the daemon then
 * checks which dataset it reached: PrimaryWatch).
 */
function createSentinelClient(target: RedisTarget, role: string, extra: ClientOptions): Redis {
  return readRepliesInline(
    new Redis({
      ...baseOptions(role),
      sentinels: (target.sentinels ?? []).map(hostPort),
      name: target.name ?? 'mymaster',
      role: 'master',
      failoverDetector: true,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(target.db === undefined ? {} : { db: target.db }),
      ...(target.tls === true ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      ...(target.sentinelUsername === undefined
        ? {}
        : { sentinelUsername: target.sentinelUsername }),
      ...(target.sentinelPassword === undefined
        ? {}
        : { sentinelPassword: target.sentinelPassword }),
      ...(target.sentinelTls === true ? { sentinelTLS: {} } : {}),
      ...extra,
    }),
  );
}

/** `HOST:PORT` (IPv6 in brackets) as ioredis wants it. */
function hostPort(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  return {
    host: text.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(text.slice(colon + 1)),
  };
}

/**
 * The client of `target` for one role: a `Redis` for a single server, a
 * `Redis` following the primary that `target.sentinels` name, an ioredis
 * `Cluster` when `target.cluster` is set (seeded with the URL's node and
 * `target.nodes`; credentials and TLS from the URL apply to every node).
 * `extra` are per-connection options; `enableOfflineQueue` and
 * `enableAutoPipelining` also apply to the cluster as a whole.
 */
export function createRedisClient(
  target: RedisTarget,
  role: string,
  extra: ClientOptions = {},
): Redis | Cluster {
  if ((target.sentinels?.length ?? 0) > 0) return createSentinelClient(target, role, extra);
  if (target.url === undefined) throw new Error('createRedisClient: redis.url or redis.sentinels');
  if (target.cluster !== true) return createRedis(target.url, role, extra);
  const url = new URL(target.url);
  const seeds: ClusterNode[] = [
    { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) },
    ...(target.nodes ?? []).map(hostPort),
  ];
  const redisOptions: ClientOptions = {
    connectionName: `sluice:${role}`,
    maxRetriesPerRequest: 1,
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    ...extra,
  };
  const cluster = new Cluster(seeds, {
    redisOptions,
    clusterRetryStrategy: backoff,
    enableOfflineQueue: extra.enableOfflineQueue ?? true,
    enableAutoPipelining: extra.enableAutoPipelining ?? false,
    lazyConnect: false,
  });
  // Each node's client as it joins the pool (before it connects).
  cluster.on('+node', (node: Redis) => void readRepliesInline(node));
  return cluster;
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
