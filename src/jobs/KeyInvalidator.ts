import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BusPublisher } from '../bus/BusPublisher.js';
import { systemClock } from '../infra/clock.js';
import { unlinkWithLeases } from '../infra/clusterCommands.js';

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
  private readonly publisher: BusPublisher;

  constructor(
    private readonly redis: Redis | Cluster,
    channel: string,
    role: string,
    logger: Logger,
  ) {
    this.publisher = new BusPublisher({
      redis,
      channel,
      src: `${role}:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      heartbeatMs: 0,
      clock: systemClock,
      logger,
    });
  }

  /** The `src` of this instance's messages: `<role>:<host>:<pid>:<random>`. */
  get publisherId(): string {
    return this.publisher.src;
  }

  /** UNLINKs `keys` and their leases and publishes them; throws when Redis did not acknowledge. */
  async invalidate(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await unlinkWithLeases(this.redis, keys, UNLINK_CHUNK);
    await this.publisher.publish({ keys });
  }
}
