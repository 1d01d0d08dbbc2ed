import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BusPublisher } from '../bus/BusPublisher.js';
import type { SluiceError } from '../errors/index.js';
import type { Clock } from '../infra/clock.js';
import { Batcher } from './batch/Batcher.js';
import { RateLimiter } from './batch/RateLimiter.js';
import { CheckpointTracker } from './checkpoint/CheckpointTracker.js';
import { CheckpointWriter } from './checkpoint/CheckpointWriter.js';
import { Dispatcher } from './Dispatcher.js';
import { createTransport, ROUND_MAX_KEYS } from './transport/createTransport.js';
import type { ReplicaWait } from './transport/Transport.js';

export interface StageOptions {
  readonly redis: Redis | Cluster;
  readonly channel: string;
  /** The bus `src` of the messages. */
  readonly src: string;
  readonly batchMaxKeys: number;
  readonly batchMaxDelayMs: number;
  readonly maxInFlightKeys: number;
  /** Bus heartbeat period; 0: none. */
  readonly heartbeatMs: number;
  /** The checkpoint key and optional fence; null: a replay, which never stores one. */
  readonly checkpoint: {
    readonly key: string;
    readonly fence?: { readonly key: string; readonly token: () => number };
    /** The Redis primary the acknowledgements come from (PrimaryWatch.expected). */
    readonly primary?: () => string | null;
  } | null;
  /** `redis.waitReplicas`: rounds count once replicas have them; null or absent: the primary's ack. */
  readonly wait?: ReplicaWait | null;
  /** The bus publisher to keep (its seq and heartbeat) when the stages are rebuilt; default: a new one. */
  readonly publisher?: BusPublisher;
  readonly maxKeysPerSec?: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The source must pause (true) or may resume (false). */
  readonly onBackpressure: (pause: boolean) => void;
  readonly onHalt: (err: SluiceError) => void;
  /** A checkpoint write was fenced off: true to retry it (see Dispatcher). */
  readonly onFenced?: () => Promise<boolean>;
  /** A checkpoint write was refused by another Redis primary (see Dispatcher). */
  readonly onPrimaryChanged?: () => void;
  readonly onAcked?: (keys: readonly string[]) => void;
}

/** The delivery half of the stage line, wired: batcher → transport → tracker → writer, and the publisher. */
export interface Stages {
  readonly batcher: Batcher;
  readonly writer: CheckpointWriter | null;
  readonly publisher: BusPublisher;
  readonly dispatcher: Dispatcher;
}

/** Wires the stages the daemon and `replay` share; each stage is built here and nowhere else. */
export function assembleStages(o: StageOptions): Stages {
  const { transport, oneItemPerRound } = createTransport(
    o.redis,
    o.channel,
    o.clock,
    o.logger,
    o.wait ?? null,
  );
  // The dispatcher is created last; the batcher and the writer only nudge it.
  let dispatcher: Dispatcher | null = null;
  const kick = (): void => dispatcher?.kick();
  const batcher = new Batcher({
    batchMaxKeys: o.batchMaxKeys,
    batchMaxDelayMs: o.batchMaxDelayMs,
    maxInFlightKeys: o.maxInFlightKeys,
    roundMaxKeys: ROUND_MAX_KEYS,
    oneItemPerRound,
    clock: o.clock,
    onReady: kick,
    onBackpressure: o.onBackpressure,
  });
  const writer =
    o.checkpoint === null
      ? null
      : new CheckpointWriter({
          key: o.checkpoint.key,
          clock: o.clock,
          onDue: kick,
          ...(o.checkpoint.fence === undefined ? {} : { fence: o.checkpoint.fence }),
          ...(o.checkpoint.primary === undefined ? {} : { primary: o.checkpoint.primary }),
        });
  const publisher =
    o.publisher ??
    new BusPublisher({
      redis: o.redis,
      channel: o.channel,
      src: o.src,
      heartbeatMs: o.heartbeatMs,
      clock: o.clock,
      logger: o.logger,
    });
  dispatcher = new Dispatcher({
    batcher,
    transport,
    tracker: new CheckpointTracker(),
    writer,
    publisher,
    logger: o.logger,
    onHalt: o.onHalt,
    ...(o.onFenced === undefined ? {} : { onFenced: o.onFenced }),
    ...(o.onPrimaryChanged === undefined ? {} : { onPrimaryChanged: o.onPrimaryChanged }),
    ...(o.maxKeysPerSec === undefined || o.maxKeysPerSec <= 0
      ? {}
      : { rateLimiter: new RateLimiter(o.maxKeysPerSec, o.clock) }),
    ...(o.onAcked === undefined ? {} : { onAcked: o.onAcked }),
  });
  return { batcher, writer, publisher, dispatcher };
}
