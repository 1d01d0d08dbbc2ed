import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../infra/clock.js';
import { publishInOrder } from '../infra/clusterCommands.js';
import { encodeHeartbeat, encodeInvalidation, type WatermarkFields } from './codec.js';

/** The body of an invalidation message (the codec's fields). */
export interface InvalidationBody {
  readonly keys?: readonly string[];
  readonly patterns?: readonly string[];
  readonly flush?: boolean;
  /** The watermark: the boundary through which every invalidation is acknowledged. */
  readonly pos?: string;
  readonly gtid?: string;
}

export interface BusPublisherOptions {
  readonly redis: Redis | Cluster;
  readonly channel: string;
  /** The message `src`: one per publishing process and role (subscribers track seq per src). */
  readonly src: string;
  /** Heartbeat period; 0: none (replays, jobs). */
  readonly heartbeatMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The one publisher of the invalidation bus: source id, sequence numbers and
 * heartbeats. Used by the daemon, `replay` and the jobs.
 *
 * Two ways to publish. In a round trip (the daemon's transports): `encode`
 * numbers the k-th message of the round `seq + k`, and `acked` advances
 * `seq` only once Redis acknowledged the whole round; a retried round sends
 * the same numbers again, which a subscriber that saw some of them takes
 * for a publisher restart and answers by clearing its L1 (safe). Alone
 * (`publish`): the number is taken when the command is queued, so
 * concurrent calls publish in order; a failed publish leaves a gap, which
 * only makes subscribers clear their L1. A heartbeat repeats the last
 * acknowledged number, so a lost message shows up as a gap without traffic,
 * and the watermark (the newest acknowledged boundary, read your own writes).
 */
export class BusPublisher {
  private seqValue = 0;
  private hbTimer: Timer | null = null;
  private mark: WatermarkFields = {};
  private readonly log: Logger;
  publishes = 0;

  constructor(private readonly options: BusPublisherOptions) {
    this.log = options.logger.child({ component: 'bus' });
  }

  get src(): string {
    return this.options.src;
  }

  get channel(): string {
    return this.options.channel;
  }

  /** The last acknowledged sequence number (heartbeats repeat it). */
  get seq(): number {
    return this.seqValue;
  }

  /** The `offset`-th (1-based) message of a round not yet acknowledged. */
  encode(offset: number, body: InvalidationBody): string {
    return encodeInvalidation(this.options.src, this.seqValue + offset, body);
  }

  /** Redis acknowledged a round carrying `count` messages. */
  acked(count: number): void {
    this.seqValue += count;
    this.publishes += count;
  }

  /**
   * Every invalidation through this boundary is acknowledged (the checkpoint
   * tracker said so): heartbeats carry it from now on, so a reader waiting
   * for a fence learns of it without traffic.
   */
  acknowledged(mark: WatermarkFields): void {
    this.mark = mark;
  }

  /**
   * Starts a new run of the sequence: the daemon re-streams after a Redis
   * primary change, and what this run acknowledged may be lost with the
   * old primary. The next message has seq 1, lower than what subscribers
   * saw: they take it for a publisher restart, clear their L1 and start the
   * read-your-own-writes watermark over. Until the next acknowledgement,
   * heartbeats repeat seq 0 and carry no watermark (the old one would vouch
   * for deletes the new primary lacks).
   */
  restart(): void {
    this.seqValue = 0;
    this.mark = {};
  }

  /** Publishes one message now (jobs, flush notices); rejects when Redis did not take it. */
  async publish(body: InvalidationBody): Promise<void> {
    const message = encodeInvalidation(this.options.src, ++this.seqValue, body);
    await publishInOrder(this.options.redis, this.options.channel, message);
    this.publishes++;
  }

  /** Starts the heartbeat (no-op when heartbeatMs is 0); idempotent. */
  start(): void {
    if (this.options.heartbeatMs <= 0 || this.hbTimer !== null) return;
    this.hbTimer = this.options.clock.setInterval(() => this.heartbeat(), this.options.heartbeatMs);
  }

  /** Stops the heartbeat; idempotent. */
  stop(): void {
    this.options.clock.clearInterval(this.hbTimer);
    this.hbTimer = null;
  }

  private heartbeat(): void {
    const message = encodeHeartbeat(this.options.src, this.seqValue, this.mark);
    // On a cluster through the same node as the invalidations: a heartbeat
    // overtaking the message whose seq it repeats would look like a gap.
    publishInOrder(this.options.redis, this.options.channel, message).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message }, 'heartbeat publish failed');
    });
  }
}
