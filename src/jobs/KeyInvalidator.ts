import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { execBySlot, publishInOrder, unlinkCommands } from '../infra/clusterCommands.js';
import { isCluster } from '../infra/redis.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { encodeInvalidation } from '../pipeline/sink/message.js';

/** Arguments per UNLINK command (keys and their lease keys), as in the sink. */
const UNLINK_CHUNK = 1000;

/**
 * Invalidates keys from a job: one pipeline of variadic UNLINKs of the keys
 * and their lease keys (a fill in flight is dropped), then one PUBLISH on the
 * invalidation channel so every L1 drops them too.
 *
 * Messages carry this instance's own `src` and sequence: subscribers track
 * `seq` per `src`, so sharing the daemon's would look like a gap or a
 * restart to them. The sequence is taken when the pipeline is queued, and
 * pipelines on one connection reach Redis in the order they were queued, so
 * subscribers see it in order; a failed publish leaves a gap, which only
 * makes them clear their L1 (safe).
 *
 * On a Redis Cluster the UNLINKs go per slot, one pipeline per node, and the
 * PUBLISH only after all of them were acknowledged (see RedisSink). The
 * sequence is then taken when the PUBLISH is sent, always through the same
 * node (publishInOrder), so subscribers still see it in order.
 */
export class KeyInvalidator {
  /** The `src` of this instance's messages: `<role>:<host>:<pid>:<random>`. */
  readonly publisherId: string;
  private seq = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly channel: string,
    role: string,
  ) {
    this.publisherId = `${role}:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  /** UNLINKs `keys` and their leases and publishes them; throws when Redis did not acknowledge. */
  async invalidate(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (isCluster(this.redis)) {
      const args = keys.flatMap((k) => [k, RedisKeys.lease(k)]);
      await execBySlot(this.redis, unlinkCommands(args, UNLINK_CHUNK));
      const message = encodeInvalidation(this.publisherId, ++this.seq, { keys });
      await publishInOrder(this.redis, this.channel, message);
      return;
    }
    const pipe = this.redis.pipeline();
    let args: string[] = [];
    for (const key of keys) {
      args.push(key, RedisKeys.lease(key));
      if (args.length >= UNLINK_CHUNK) {
        pipe.unlink(args);
        args = [];
      }
    }
    if (args.length > 0) pipe.unlink(args);
    pipe.publish(this.channel, encodeInvalidation(this.publisherId, ++this.seq, { keys }));
    const results = (await pipe.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }
}
