import { Redis } from 'ioredis';
import { testEnv } from './env.js';

export function testRedis(): Redis {
  const redis = new Redis(testEnv.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // fault tests stop Redis on purpose
  return redis;
}

/** Sets `value` under every key; returns the keys. */
export async function plant(
  redis: Redis,
  keys: Iterable<string>,
  value = 'stale',
): Promise<string[]> {
  const list = [...keys];
  for (let i = 0; i < list.length; i += 1000) {
    const pipe = redis.pipeline();
    for (const k of list.slice(i, i + 1000)) pipe.set(k, value);
    await pipe.exec();
  }
  return list;
}

/** The subset of `keys` that still exists. */
export async function survivors(redis: Redis, keys: readonly string[]): Promise<string[]> {
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

/** Collects every message published on `channel` from now on. */
export async function collectMessages(
  channel: string,
): Promise<{ messages: Array<Record<string, unknown>>; close: () => Promise<void> }> {
  const sub = testRedis();
  const messages: Array<Record<string, unknown>> = [];
  sub.on('message', (_ch: string, raw: string) => {
    messages.push(JSON.parse(raw) as Record<string, unknown>);
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
