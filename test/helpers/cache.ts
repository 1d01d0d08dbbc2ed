import { Redis, type Cluster } from 'ioredis';
import { ClusterBusSubscriber } from '../../src/cache/ClusterBusSubscriber.js';
import type { BusSubscriber } from '../../src/cache/InvalidationBus.js';
import { SluiceCache, type SluiceCacheOptions } from '../../src/cache/SluiceCache.js';
import { encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';
import { randomId, testEnv } from './env.js';

/**
 * A SluiceCache on the test Redis with its own connections; close() closes
 * all. With `cluster` (a factory of Cluster clients) it runs on that cluster,
 * subscribed through a ClusterBusSubscriber.
 */
export async function testCache(
  options: Partial<SluiceCacheOptions> & { channel: string },
  cluster?: () => Cluster,
): Promise<{
  cache: SluiceCache;
  redis: Redis | Cluster;
  subscriber: BusSubscriber;
  subscriberName: string;
  close: () => Promise<void>;
}> {
  const subscriberName = `test-sub-${randomId()}`;
  let redis: Redis | Cluster;
  let subscriber: BusSubscriber;
  if (cluster === undefined) {
    redis = new Redis(testEnv.redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
    subscriber = new Redis(testEnv.redisUrl, {
      connectionName: subscriberName,
      maxRetriesPerRequest: 1,
    });
  } else {
    const c = cluster();
    redis = c;
    subscriber = new ClusterBusSubscriber(c, { connectionName: subscriberName });
  }
  const cache = new SluiceCache({ redis, subscriber, ...options });
  await cache.start();
  return {
    cache,
    redis,
    subscriber,
    subscriberName,
    close: async () => {
      await cache.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

/**
 * Plays a daemon on `channel`: heartbeats every `periodMs` and invalidation
 * messages with sequence numbers the test controls (to drop one on purpose).
 */
export class FakePublisher {
  private readonly redis: Redis;
  private timer: NodeJS.Timeout | null = null;
  seq = 0;

  /** `redisUrl`: where to publish (on a cluster, any node reaches every subscriber). */
  constructor(
    readonly channel: string,
    readonly src = `fake-${randomId()}`,
    redisUrl = testEnv.redisUrl,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  }

  startHeartbeats(periodMs: number): void {
    const beat = (): void =>
      void this.redis.publish(this.channel, encodeHeartbeat(this.src, this.seq));
    beat();
    this.timer = setInterval(beat, periodMs);
  }

  /** Publishes with the next seq, or with `seq` to simulate a lost message. */
  async invalidate(keys: string[], seq = this.seq + 1): Promise<void> {
    this.seq = seq;
    await this.redis.publish(this.channel, encodeInvalidation(this.src, seq, { keys }));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.redis.disconnect();
  }
}

/** A promise with its resolve function, for pausing a loader at a chosen point. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}
