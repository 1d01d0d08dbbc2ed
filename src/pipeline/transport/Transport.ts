import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import { backoffDelay, REDIS_BACKOFF } from '../../infra/backoff.js';
import type { Clock } from '../../infra/clock.js';
import type { CheckpointOutcome } from '../checkpoint/checkpointCommand.js';
import type { CheckpointWrite } from '../checkpoint/CheckpointWriter.js';

/** One key batch of a round trip: its keys and its encoded bus message. */
export interface OutgoingBatch {
  readonly keys: readonly string[];
  readonly message: string;
}

/**
 * What one round trip carries, in this order: the checkpoint write of
 * batches acknowledged earlier (so it never claims keys not yet deleted),
 * then per batch its UNLINKs (keys and lease keys) and its PUBLISH.
 */
export interface Round {
  readonly checkpoint: CheckpointWrite | null;
  readonly batches: readonly OutgoingBatch[];
}

/** How Redis answered a round: only the checkpoint's outcome needs reporting, errors throw. */
export interface RoundAck {
  readonly checkpoint: 'none' | CheckpointOutcome;
}

/** The transport was closed while retrying; the work is re-read from the checkpoint. */
export class TransportClosed extends Error {
  constructor() {
    super('transport closed while retrying');
  }
}

/** `redis.waitReplicas`: a write counts once this many replicas have it (WAIT). */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
}

export interface TransportOptions {
  readonly channel: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** null: a write counts once the primary has it. */
  readonly wait?: ReplicaWait | null;
}

/**
 * Throws E_REDIS_REPLICAS when WAIT's reply (the replicas that have the
 * connection's writes) is short of `wait`: the attempt failed and is retried.
 */
export function checkReplicas(reply: unknown, wait: ReplicaWait): void {
  const got = Number(reply);
  if (got >= wait.replicas) return;
  throw new SluiceError(
    'E_REDIS_REPLICAS',
    `WAIT: ${got} of ${wait.replicas} replicas acknowledged within ${wait.timeoutMs} ms (redis.waitReplicas)`,
    { details: { replicas: got, wanted: wait.replicas } },
  );
}

/**
 * Sends rounds and key-space flushes to Redis and reports what Redis
 * acknowledged. Holds no policy: it does not decide what is sent, when, or
 * what a fenced checkpoint means. A failed attempt is retried with backoff
 * until it succeeds or the transport is closed: an invalidation is never
 * dropped, and nothing after it is sent before it.
 */
export abstract class Transport {
  protected readonly log: Logger;
  // ES private: a subclass can never shadow the retry state by accident.
  #failures = 0;
  #closed = false;
  retries = 0;

  constructor(protected readonly options: TransportOptions) {
    this.log = options.logger.child({ component: 'transport' });
  }

  /** Sends `round` (retrying) and resolves with Redis's answer. */
  send(round: Round): Promise<RoundAck> {
    return this.retrying(() => this.attempt(round));
  }

  /** Removes every key matching the globs (and their leases), then publishes `message`; returns keys removed. */
  flush(patterns: readonly string[], message: string): Promise<number> {
    return this.retrying(() => this.attemptFlush(patterns, message));
  }

  /** Stops retrying: a pending `send`/`flush` rejects with TransportClosed. */
  close(): void {
    this.#closed = true;
  }

  protected abstract attempt(round: Round): Promise<RoundAck>;
  protected abstract attemptFlush(patterns: readonly string[], message: string): Promise<number>;

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.#closed) throw new TransportClosed();
      try {
        const result = await fn();
        if (this.#failures > 0) this.log.info({ after: this.#failures }, 'redis recovered');
        this.#failures = 0;
        return result;
      } catch (err) {
        this.#failures++;
        this.retries++;
        const delay = backoffDelay(this.#failures, REDIS_BACKOFF);
        const level = this.#failures === 1 || this.#failures % 20 === 0 ? 'warn' : 'debug';
        this.log[level](
          {
            code: err instanceof SluiceError ? err.code : 'E_REDIS',
            err: (err as Error).message,
            attempt: this.#failures,
            retryInMs: delay,
          },
          'redis write failed; retrying without advancing the checkpoint',
        );
        if (this.#closed) throw new TransportClosed();
        await this.options.clock.sleep(delay);
      }
    }
  }
}
