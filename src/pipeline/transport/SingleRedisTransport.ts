import type { Pipeline, Redis } from 'ioredis';
import { publishInOrder, unlinkMatching } from '../../infra/clusterCommands.js';
import { checkpointCommand, checkpointOutcome } from '../checkpoint/checkpointCommand.js';
import {
  checkReplicas,
  Transport,
  type Round,
  type RoundAck,
  type TransportOptions,
} from './Transport.js';
import { UnlinkCommand } from './UnlinkCommand.js';

/** Arguments per UNLINK command (keys and their lease keys). */
export const UNLINK_CHUNK = 1000;
/** SCAN page size of key-space flushes. */
export const SCAN_COUNT = 1000;

/**
 * A single Redis: a whole round is one pipeline: the checkpoint write, then
 * per batch its variadic UNLINKs (pre-encoded, see UnlinkCommand) and its
 * PUBLISH, then with `redis.waitReplicas` a WAIT for the replicas. Redis
 * runs a connection's commands in order, so a subscriber that sees a
 * message finds its keys already gone.
 */
export class SingleRedisTransport extends Transport {
  constructor(
    private readonly redis: Redis,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected async attempt(round: Round): Promise<RoundAck> {
    // ioredis types pipeline() as the chainable commands; it is a Pipeline.
    const pipe = this.redis.pipeline() as ReturnType<Redis['pipeline']> & Pipeline;
    const cp = round.checkpoint;
    if (cp !== null) pipe.call(...checkpointCommand(cp));
    for (const batch of round.batches) {
      for (const command of UnlinkCommand.forKeys(batch.keys, UNLINK_CHUNK)) {
        pipe.sendCommand(command);
      }
      pipe.publish(this.options.channel, batch.message);
    }
    if (pipe.length === 0) return { checkpoint: 'none' };
    const wait = this.options.wait ?? null;
    if (wait !== null) pipe.wait(wait.replicas, wait.timeoutMs);
    const results = (await pipe.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    if (wait !== null) checkReplicas(results[results.length - 1]?.[1], wait);
    if (cp === null) return { checkpoint: 'none' };
    return { checkpoint: checkpointOutcome(cp, results[0]?.[1]) };
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.redis, patterns, SCAN_COUNT);
    const wait = this.options.wait ?? null;
    if (wait !== null) checkReplicas(await this.redis.wait(wait.replicas, wait.timeoutMs), wait);
    await publishInOrder(this.redis, this.options.channel, message);
    return removed;
  }
}
