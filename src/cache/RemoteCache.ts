import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  mgetBySlot,
  publishInOrder,
  unlinkMatching,
  unlinkWithLeases,
} from '../infra/clusterCommands.js';
import { systemClock, type Clock } from '../infra/clock.js';
import { isCluster } from '../infra/redis.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { withScripts, type LeaseGetReply, type ScriptedClient } from './scripts.js';

/** Keys per UNLINK / SCAN page. */
const UNLINK_CHUNK = 1000;
const SCAN_COUNT = 1000;

export type LeaseResult =
  | { readonly kind: 'hit'; readonly raw: string }
  | { readonly kind: 'granted' }
  | { readonly kind: 'busy'; readonly pttl: number };

/**
 * L2: Redis. Every call here may fail when Redis is down; `tryOp` is the one
 * place those failures are caught, counted and logged, and the caller gets
 * `undefined` (or false) and degrades (reads go to the database, writes are
 * skipped).
 *
 * On a Redis Cluster, multi-key commands are split per slot (MGET, UNLINK)
 * and pattern removals SCAN every master; the lease scripts need nothing:
 * a lease key is always in its data key's slot.
 */
export class RemoteCache {
  private readonly client: (Redis | Cluster) & ScriptedClient;
  private readonly log: Logger;
  private lastErrorLog = Number.NEGATIVE_INFINITY;
  errors = 0;

  constructor(
    client: Redis | Cluster,
    logger: Logger,
    private readonly leaseMs: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.client = withScripts(client);
    this.log = logger.child({ component: 'l2' });
  }

  private async tryOp<T>(name: string, op: () => Promise<T>): Promise<T | undefined> {
    // Known to be down: do not queue behind reconnect attempts, degrade now.
    const status = (this.client as { status?: string }).status;
    if (status === 'reconnecting' || status === 'end' || status === 'close') {
      this.errors++;
      return undefined;
    }
    try {
      return await op();
    } catch (err) {
      this.errors++;
      const now = this.clock.now();
      if (now - this.lastErrorLog > 5000) {
        this.lastErrorLog = now;
        this.log.warn(
          { code: 'E_REDIS', op: name, err: (err as Error).message },
          'redis unavailable: serving from the database without caching',
        );
      }
      return undefined;
    }
  }

  get(key: string): Promise<string | null | undefined> {
    return this.tryOp('get', () => this.client.get(key));
  }

  mget(keys: readonly string[]): Promise<Array<string | null> | undefined> {
    const client = this.client;
    return this.tryOp('mget', () =>
      isCluster(client) ? mgetBySlot(client, keys) : client.mget(...keys),
    );
  }

  /** Reads `key`, or takes its fill lease with `token` on a miss. */
  async leaseGet(key: string, token: string): Promise<LeaseResult | undefined> {
    const r = await this.tryOp<LeaseGetReply>('leaseGet', () =>
      this.client.leaseGet(key, RedisKeys.lease(key), token, this.leaseMs),
    );
    if (r === undefined) return undefined;
    const [code, payload] = r;
    if (Number(code) === 1) return { kind: 'hit', raw: payload };
    if (Number(code) === 2) return { kind: 'granted' };
    return { kind: 'busy', pttl: Number(payload) };
  }

  /** Writes `raw` if `token` still holds the lease; true when written. */
  async fill(key: string, token: string, raw: string, ttlMs: number): Promise<boolean> {
    const r = await this.tryOp('leaseFill', () =>
      this.client.leaseFill(key, RedisKeys.lease(key), token, raw, Math.max(1, Math.round(ttlMs))),
    );
    return r === 1;
  }

  /** A writer takes the lease unconditionally (and drops the old value). */
  async take(key: string, token: string): Promise<boolean> {
    const r = await this.tryOp('leaseTake', () =>
      this.client.leaseTake(key, RedisKeys.lease(key), token, this.leaseMs),
    );
    return r === 1;
  }

  /**
   * A plain SET with a lifetime, no lease. Only the test-only factory's
   * lease-less cache uses it (it allows stale sets; see protections.ts).
   */
  async set(key: string, raw: string, ttlMs: number): Promise<boolean> {
    const r = await this.tryOp('set', () => this.client.set(key, raw, 'PX', ttlMs));
    return r === 'OK';
  }

  /**
   * Takes the lock `lockKey` for `lockMs` (`SET NX PX`, the owner's token as
   * value): true when taken, false when someone holds it, undefined when Redis is down.
   */
  async acquireLock(lockKey: string, token: string, lockMs: number): Promise<boolean | undefined> {
    const r = await this.tryOp('lock', () => this.client.set(lockKey, token, 'PX', lockMs, 'NX'));
    return r === undefined ? undefined : r === 'OK';
  }

  /** Releases a lock only if `token` owns it (compare-and-delete). */
  async releaseLock(lockKey: string, token: string): Promise<boolean> {
    return (await this.tryOp('lockRelease', () => this.client.lockRelease(lockKey, token))) === 1;
  }

  /** UNLINKs keys and their leases; false when Redis is down. */
  async unlink(keys: readonly string[]): Promise<boolean> {
    const r = await this.tryOp('unlink', async () => {
      await unlinkWithLeases(this.client, keys, UNLINK_CHUNK);
      return true;
    });
    return r === true;
  }

  /** Publishes `message` on `channel` (in order with this client's earlier commands); false when Redis is down. */
  async publish(channel: string, message: string): Promise<boolean> {
    const r = await this.tryOp('publish', async () => {
      await publishInOrder(this.client, channel, message);
      return true;
    });
    return r === true;
  }

  /** SCAN + UNLINK in batches (never KEYS); returns the number removed, undefined when Redis is down. */
  async unlinkPattern(glob: string): Promise<number | undefined> {
    const client = this.client;
    return this.tryOp('unlinkPattern', () => unlinkMatching(client, [glob], SCAN_COUNT));
  }
}
