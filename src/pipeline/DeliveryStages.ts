import type { BusPublisher } from '../bus/BusPublisher.js';
import type { SluiceError } from '../errors/index.js';
import type { Batcher } from './batch/Batcher.js';
import type { Checkpoint } from './checkpoint/Checkpoint.js';
import type { CheckpointWriter } from './checkpoint/CheckpointWriter.js';
import type { Dispatcher, DispatchStats } from './Dispatcher.js';
import { assembleStages, type StageOptions } from './stages.js';

/** The daemon's `invalidation` settings the delivery stages run with. */
export interface DeliverySettings {
  readonly channel: string;
  readonly batchMaxKeys: number;
  readonly batchMaxDelayMs: number;
  readonly maxInFlightKeys: number;
  readonly heartbeatMs: number;
}

export type DeliveryStagesOptions = Pick<
  StageOptions,
  'redis' | 'src' | 'wait' | 'clock' | 'logger' | 'onFenced' | 'onAcked'
> & {
  readonly invalidation: DeliverySettings;
  readonly checkpoint: NonNullable<StageOptions['checkpoint']>;
  /** From the current stages only: the source must pause (true) or may resume (false). */
  readonly onBackpressure: (pause: boolean) => void;
  /** From the current stages only: the dispatcher stopped. */
  readonly onHalt: (err: SluiceError) => void;
  /** From the current stages only: a checkpoint write was refused by another Redis primary. */
  readonly onPrimaryChanged: () => void;
};

/**
 * The daemon's delivery stages (batcher → transport → tracker → writer,
 * and the bus publisher), rebuilt when Redis changed under the daemon
 * (RedisPolicy); the publisher (seq, heartbeat) stays. Callbacks from
 * stages a rebuild retired are ignored, and their counters are kept
 * (metrics never go backwards).
 */
export class DeliveryStages {
  private currentBatcher!: Batcher;
  private currentWriter!: CheckpointWriter;
  private currentDispatcher!: Dispatcher;
  readonly publisher: BusPublisher;
  /** Counters of the dispatchers replaced by re-streams. */
  private retired: RetiredStats = {
    rounds: 0,
    batches: 0,
    keys: 0,
    checkpoints: 0,
    retries: 0,
    patternKeys: 0,
  };

  constructor(private readonly options: DeliveryStagesOptions) {
    this.publisher = this.assemble();
  }

  get batcher(): Batcher {
    return this.currentBatcher;
  }

  get writer(): CheckpointWriter {
    return this.currentWriter;
  }

  get dispatcher(): Dispatcher {
    return this.currentDispatcher;
  }

  /**
   * Halts the dispatcher (queued and in-flight work is abandoned) and starts
   * the bus sequence over: readers must not trust what was announced, their
   * watermark and L1 start over with the next message (a lower seq).
   */
  halt(): void {
    this.dispatcher.halt();
    this.publisher.restart();
  }

  /**
   * Fresh stages keeping the publisher; the new writer seeded with `from`
   * unless null. The replaced dispatcher's counters join the retired ones
   * here, at the moment it stops being current: counted once, before and
   * after (metrics never go backwards).
   */
  rebuild(from: Checkpoint | null): void {
    this.retired = sumStats(this.retired, this.dispatcher.stats);
    this.assemble(this.publisher);
    if (from !== null) this.writer.seed(from);
  }

  /** The dispatch counters of every dispatcher so far (publishes: the publisher's). */
  get stats(): DispatchStats {
    const now = this.dispatcher.stats;
    return { ...sumStats(this.retired, now), publishes: now.publishes };
  }

  /** Builds the stages, keeping `publisher` when given; returns the publisher. */
  private assemble(publisher?: BusPublisher): BusPublisher {
    const { options } = this;
    const inv = options.invalidation;
    const stages = assembleStages({
      redis: options.redis,
      channel: inv.channel,
      src: options.src,
      batchMaxKeys: inv.batchMaxKeys,
      batchMaxDelayMs: inv.batchMaxDelayMs,
      maxInFlightKeys: inv.maxInFlightKeys,
      heartbeatMs: inv.heartbeatMs,
      checkpoint: options.checkpoint,
      wait: options.wait ?? null,
      ...(publisher === undefined ? {} : { publisher }),
      clock: options.clock,
      logger: options.logger,
      onBackpressure: (pause) => {
        if (this.currentBatcher === stages.batcher) options.onBackpressure(pause);
      },
      onHalt: (err) => {
        if (this.currentDispatcher === stages.dispatcher) options.onHalt(err);
      },
      ...(options.onFenced === undefined ? {} : { onFenced: options.onFenced }),
      onPrimaryChanged: () => {
        if (this.currentDispatcher === stages.dispatcher) options.onPrimaryChanged();
      },
      ...(options.onAcked === undefined ? {} : { onAcked: options.onAcked }),
    });
    if (stages.writer === null) {
      throw new Error('Invalidator: the stages were built without a writer');
    }
    this.currentBatcher = stages.batcher;
    this.currentWriter = stages.writer;
    this.currentDispatcher = stages.dispatcher;
    return stages.publisher;
  }
}

type RetiredStats = Omit<DispatchStats, 'publishes'>;

function sumStats(a: RetiredStats, b: RetiredStats): RetiredStats {
  return {
    rounds: a.rounds + b.rounds,
    batches: a.batches + b.batches,
    keys: a.keys + b.keys,
    checkpoints: a.checkpoints + b.checkpoints,
    retries: a.retries + b.retries,
    patternKeys: a.patternKeys + b.patternKeys,
  };
}
