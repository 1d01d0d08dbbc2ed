import { Redis, type Cluster } from 'ioredis';
import type { SubscriberConnection } from '../../src/bus/BusSubscriber.js';
import { ClusterBusSubscriber } from '../../src/bus/ClusterBusSubscriber.js';
import type { Protections } from '../../src/cache/protections.js';
import { SluiceCache, type SluiceCacheOptions } from '../../src/cache/SluiceCache.js';
import { encodeHeartbeat, encodeInvalidation, type WatermarkFields } from '../../src/bus/codec.js';
import { randomId, testEnv } from './env.js';

/** Protections to switch off: the control arms of the race tests (never in production). */
export interface Unsafe {
  /** Plain GET/SET instead of leases (allows stale sets). */
  readonly noLeases?: boolean;
  /** Store L1 fills even when an invalidation arrived during the fill. */
  readonly noFillTracking?: boolean;
  /** Keep L1 on seq gaps, restarts, resubscribes and heartbeat loss. */
  readonly noResets?: boolean;
}

/** The protections left on when `unsafe` switches some off. */
export function protectionsWithout(unsafe: Unsafe = {}): Protections {
  return {
    leases: unsafe.noLeases !== true,
    fillTracking: unsafe.noFillTracking !== true,
    resets: unsafe.noResets !== true,
  };
}

/**
 * The test-only factory: a SluiceCache with the protections `unsafe` names
 * switched off (production code has no way to ask for that).
 */
export function unprotectedCache(options: SluiceCacheOptions, unsafe: Unsafe): SluiceCache {
  return new SluiceCache(options, protectionsWithout(unsafe));
}

/**
 * A SluiceCache on the test Redis with its own connections; close() closes
 * all. With `cluster` (a factory of Cluster clients) it runs on that cluster,
 * subscribed through a ClusterBusSubscriber. `unsafe` switches protections
 * off (unprotectedCache).
 */
export async function testCache(
  options: Partial<SluiceCacheOptions> & { channel: string; unsafe?: Unsafe },
  cluster?: () => Cluster,
): Promise<{
  cache: SluiceCache;
  redis: Redis | Cluster;
  subscriber: SubscriberConnection;
  subscriberName: string;
  close: () => Promise<void>;
}> {
  const subscriberName = `test-sub-${randomId()}`;
  let redis: Redis | Cluster;
  let subscriber: SubscriberConnection;
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
  const { unsafe = {}, ...rest } = options;
  const cache = unprotectedCache({ redis, subscriber, ...rest }, unsafe);
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
  /** The watermark its heartbeats carry (read your own writes); none by default. */
  mark: WatermarkFields = {};

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
      void this.redis.publish(this.channel, encodeHeartbeat(this.src, this.seq, this.mark));
    beat();
    this.timer = setInterval(beat, periodMs);
  }

  /** Publishes with the next seq, or with `seq` to simulate a lost message. */
  async invalidate(keys: string[], seq = this.seq + 1): Promise<void> {
    this.seq = seq;
    await this.redis.publish(this.channel, encodeInvalidation(this.src, seq, { keys }));
  }

  /** Publishes the next message with `keys` and the watermark `mark` (it becomes the heartbeats' too). */
  async invalidateUpTo(keys: string[], mark: WatermarkFields): Promise<void> {
    this.mark = mark;
    await this.redis.publish(
      this.channel,
      encodeInvalidation(this.src, ++this.seq, { keys, ...mark }),
    );
  }

  /** Publishes a message as is (a pattern, a flush, a malformed one). */
  async publishRaw(message: string): Promise<void> {
    await this.redis.publish(this.channel, message);
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
