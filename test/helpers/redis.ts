import { Redis, type Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { testEnv } from './env.js';

export function testRedis(): Redis {
  const redis = new Redis(testEnv.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // fault tests stop Redis on purpose
  return redis;
}

/**
 * For a describe block: a test Redis client for its tests (`redis`, from
 * beforeAll to afterAll), and `open`, closers each test pushes and that run
 * after it, last opened first.
 */
export function suiteRedis(): { readonly redis: Redis; readonly open: Array<() => unknown> } {
  let client: Redis | null = null;
  const open: Array<() => unknown> = [];
  beforeAll(() => {
    client = testRedis();
  });
  afterAll(() => {
    client?.disconnect();
  });
  afterEach(async () => {
    for (const close of open.splice(0).reverse()) await close();
  });
  return {
    get redis(): Redis {
      if (client === null) throw new Error('suiteRedis: used outside a test');
      return client;
    },
    open,
  };
}

/** Sets `value` under every key; returns the keys. */
export async function plant(
  redis: Redis | Cluster,
  keys: Iterable<string>,
  value = 'stale',
): Promise<string[]> {
  const list = [...keys];
  if (redis.isCluster) {
    // Keys live on several nodes: one command each (auto-pipelined per node).
    await Promise.all(list.map((k) => redis.set(k, value)));
    return list;
  }
  for (let i = 0; i < list.length; i += 1000) {
    const pipe = redis.pipeline();
    for (const k of list.slice(i, i + 1000)) pipe.set(k, value);
    await pipe.exec();
  }
  return list;
}

/** The subset of `keys` that still exists. */
export async function survivors(
  redis: Redis | Cluster,
  keys: readonly string[],
): Promise<string[]> {
  if (redis.isCluster) {
    const exists = await Promise.all(keys.map((k) => redis.exists(k)));
    return keys.filter((_, i) => exists[i] === 1);
  }
  const out: string[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    const pipe = redis.pipeline();
    for (const k of chunk) pipe.exists(k);
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, n], j) => {
      if (n === 1) out.push(chunk[j] as string);
    });
  }
  return out;
}

/**
 * Collects every message published on `channel` from now on (through
 * `redisUrl`: on a cluster, any node gets every message). With
 * `heartbeats: false` a publisher's heartbeats are left out, for tests that
 * count announcements on a channel a (fake) daemon also beats on: a slow
 * machine lets any number of beats in between.
 */
export async function collectMessages(
  channel: string,
  {
    redisUrl = testEnv.redisUrl,
    heartbeats = true,
  }: { redisUrl?: string; heartbeats?: boolean } = {},
): Promise<{ messages: Array<Record<string, unknown>>; close: () => Promise<void> }> {
  const sub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  sub.on('error', () => undefined);
  const messages: Array<Record<string, unknown>> = [];
  sub.on('message', (_ch: string, raw: string) => {
    const message = JSON.parse(raw) as Record<string, unknown>;
    if (heartbeats || message.type !== 'hb') messages.push(message);
  });
  await sub.subscribe(channel);
  return {
    messages,
    close: async () => {
      sub.disconnect();
      return Promise.resolve();
    },
  };
}

/** The stored checkpoint of `source` as `FILE:POS`, or null when none. */
export async function checkpointText(
  redis: Redis | Cluster,
  source: string,
): Promise<string | null> {
  const raw = await redis.get(RedisKeys.checkpoint(source));
  if (raw === null) return null;
  const cp = JSON.parse(raw) as { file: string; pos: number };
  return `${cp.file}:${cp.pos}`;
}
