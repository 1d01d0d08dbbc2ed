import type { Command, Redis } from 'ioredis';
import { publishInOrder, unlinkMatching } from '../../infra/clusterCommands.js';
import { checkpointOutcome } from '../checkpoint/checkpointCommand.js';
import { RoundCommand, roundScriptSha } from './RoundCommand.js';
import { UnlinkCommand } from './UnlinkCommand.js';
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
 * A single Redis: a round is its UNLINKs (keys and lease keys, pre-encoded
 * in commands of UNLINK_CHUNK arguments, see UnlinkCommand), then one
 * command for the rest (RoundCommand: the round script with the checkpoint
 * write and every batch's PUBLISH, or for one batch and no checkpoint a
 * plain PUBLISH), then with `redis.waitReplicas` a WAIT, all in one write
 * to the socket. Redis runs a connection's commands in order, so a
 * subscriber that sees a message finds its keys already gone.
 */
export class SingleRedisTransport extends Transport {
  constructor(
    private readonly redis: Redis,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected async attempt(round: Round): Promise<RoundAck> {
    const end = RoundCommand.of(round, this.options.channel);
    if (end === null) return { checkpoint: 'none' };
    const unlinks = UnlinkCommand.forKeyLists(
      round.batches.map((b) => b.keys),
      UNLINK_CHUNK,
    );
    let reply: unknown;
    try {
      reply = await this.write([...unlinks, end]);
    } catch (err) {
      // The script is not in this server's cache (the first scripted round
      // on a server, a restarted or failed-over Redis, SCRIPT FLUSH): the
      // UNLINKs ran, the script did not (a plain PUBLISH never answers that).
      // Load it and send the script once more; any other error is the
      // transport's to retry (the whole round again).
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err;
      await this.redis.script('LOAD', roundScriptSha().script);
      reply = await this.write([end.again()]);
    }
    const cp = round.checkpoint;
    return { checkpoint: cp === null ? 'none' : checkpointOutcome(cp, reply) };
  }

  /**
   * Writes `commands`, with `redis.waitReplicas` a WAIT behind them (it
   * counts the connection's writes so far), in one write to the socket, and
   * resolves with the last command's reply once the replicas have them too.
   * Throws the first error in order.
   */
  private async write(commands: readonly Command[]): Promise<unknown> {
    const wait = this.options.wait ?? null;
    // Corked, the commands leave in one write (a pipeline would build the
    // same buffer at the cost of a Pipeline, a result array and a copy).
    // Not connected: ioredis queues them, in order, until it is.
    const stream = this.redis.status === 'ready' ? this.redis.stream : null;
    stream?.cork();
    const replies: Array<Promise<unknown>> = [];
    try {
      for (const command of commands)
        replies.push(this.redis.sendCommand(command) as Promise<unknown>);
      if (wait !== null) replies.push(this.redis.wait(wait.replicas, wait.timeoutMs));
    } finally {
      stream?.uncork();
    }
    // Each is awaited below in order; a later one's rejection must not
    // surface as unhandled while an earlier one is awaited.
    for (const r of replies) r.catch(() => undefined);
    let last: unknown;
    for (let i = 0; i < commands.length; i++) last = await replies[i];
    if (wait !== null) checkReplicas(await replies[commands.length], wait);
    return last;
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.redis, patterns, SCAN_COUNT);
    const wait = this.options.wait ?? null;
    if (wait !== null) checkReplicas(await this.redis.wait(wait.replicas, wait.timeoutMs), wait);
    await publishInOrder(this.redis, this.options.channel, message);
    return removed;
  }
}
