import type { Redis } from 'ioredis';
import { publishInOrder, unlinkMatching } from '../../infra/clusterCommands.js';
import { checkpointOutcome } from '../checkpoint/checkpointCommand.js';
import { RoundCommand, roundScriptSha } from './RoundCommand.js';
import {
  checkReplicas,
  Transport,
  type Round,
  type RoundAck,
  type TransportOptions,
} from './Transport.js';

/** Arguments per UNLINK command (keys and their lease keys). */
export const UNLINK_CHUNK = 1000;
/** SCAN page size of key-space flushes. */
export const SCAN_COUNT = 1000;

/**
 * A single Redis: a whole round is one command, the round script
 * (RoundCommand): the checkpoint write, then per batch its UNLINKs and its
 * PUBLISH; with `redis.waitReplicas` a WAIT for the replicas follows it. A
 * script runs alone, in order, so a subscriber that sees a message finds
 * its keys already gone.
 */
export class SingleRedisTransport extends Transport {
  constructor(
    private readonly redis: Redis,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected async attempt(round: Round): Promise<RoundAck> {
    const command = RoundCommand.of(round, this.options.channel);
    if (command === null) return { checkpoint: 'none' };
    let reply: unknown;
    try {
      reply = await this.write(command);
    } catch (err) {
      // The script is not in this server's cache (the first round on a
      // server, a restarted or failed-over Redis, SCRIPT FLUSH): nothing ran.
      // Load it and send the round once more; any other error is the
      // transport's to retry.
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err;
      await this.redis.script('LOAD', roundScriptSha().script);
      reply = await this.write(command.again());
    }
    const cp = round.checkpoint;
    return { checkpoint: cp === null ? 'none' : checkpointOutcome(cp, reply) };
  }

  /**
   * Sends `command`, with `redis.waitReplicas` a WAIT right behind it (it
   * counts the connection's writes so far), and resolves with the script's
   * reply once the replicas have it too.
   */
  private async write(command: RoundCommand): Promise<unknown> {
    const wait = this.options.wait ?? null;
    const reply = this.redis.sendCommand(command) as Promise<unknown>;
    if (wait === null) return reply;
    const replicas = this.redis.wait(wait.replicas, wait.timeoutMs);
    // Awaited below; a rejection while the script's reply is awaited first
    // must not surface as an unhandled rejection.
    replicas.catch(() => undefined);
    const result = await reply;
    checkReplicas(await replicas, wait);
    return result;
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.redis, patterns, SCAN_COUNT);
    const wait = this.options.wait ?? null;
    if (wait !== null) checkReplicas(await this.redis.wait(wait.replicas, wait.timeoutMs), wait);
    await publishInOrder(this.redis, this.options.channel, message);
    return removed;
  }
}
