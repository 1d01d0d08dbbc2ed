import type { Pipeline, Redis } from 'ioredis';
import { publishInOrder, unlinkMatching } from '../../infra/clusterCommands.js';
import { luaScript } from '../checkpoint/lua.js';
import { Transport, type Round, type RoundAck, type TransportOptions } from './Transport.js';
import { UnlinkCommand } from './UnlinkCommand.js';

/** Arguments per UNLINK command (keys and their lease keys). */
export const UNLINK_CHUNK = 1000;
/** SCAN page size of key-space flushes. */
export const SCAN_COUNT = 1000;

/**
 * A single Redis: a whole round is one pipeline: the checkpoint write, then
 * per batch its variadic UNLINKs (pre-encoded, see UnlinkCommand) and its
 * PUBLISH. Redis runs a connection's commands in order, so a subscriber that
 * sees a message finds its keys already gone.
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
    if (cp !== null) {
      if (cp.fence === null) pipe.set(cp.key, cp.json);
      else pipe.eval(luaScript('fenced-set-2'), 2, cp.fence.key, cp.key, cp.fence.token, cp.json);
    }
    for (const batch of round.batches) {
      for (const command of UnlinkCommand.forKeys(batch.keys, UNLINK_CHUNK)) {
        pipe.sendCommand(command);
      }
      pipe.publish(this.options.channel, batch.message);
    }
    if (pipe.length === 0) return { checkpoint: 'none' };
    const results = (await pipe.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    if (cp === null) return { checkpoint: 'none' };
    if (cp.fence !== null && Number(results[0]?.[1]) !== 1) return { checkpoint: 'fenced' };
    return { checkpoint: 'written' };
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.redis, patterns, SCAN_COUNT);
    await publishInOrder(this.redis, this.options.channel, message);
    return removed;
  }
}
