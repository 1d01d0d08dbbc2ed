import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { publishInOrder, unlinkWithLeases } from '../infra/clusterCommands.js';
import { encodeInvalidation } from '../bus/codec.js';

/** Arguments per UNLINK command (keys and their lease keys), as in the sink. */
const UNLINK_CHUNK = 1000;

/**
 * Invalidates keys from a job: UNLINK of the keys and their lease keys (a
 * fill in flight is dropped), then, once acknowledged, one PUBLISH on the
 * invalidation channel so every L1 drops them too (on a cluster per slot,
 * and always through the same node: see clusterCommands).
 *
 * Messages carry this instance's own `src` and sequence: subscribers track
 * `seq` per `src`, so sharing the daemon's would look like a gap or a
 * restart to them.
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
    await unlinkWithLeases(this.redis, keys, UNLINK_CHUNK);
    // Numbered as it is sent (the command is queued synchronously), so
    // concurrent calls publish in seq order; a failed publish leaves a gap,
    // which only makes subscribers clear their L1 (safe).
    const message = encodeInvalidation(this.publisherId, ++this.seq, { keys });
    await publishInOrder(this.redis, this.channel, message);
  }
}
