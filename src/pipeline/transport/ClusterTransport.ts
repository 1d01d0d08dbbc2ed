import type { Cluster } from 'ioredis';
import {
  execBySlot,
  publishInOrder,
  unlinkCommands,
  unlinkMatching,
  type SlotCommand,
} from '../../infra/clusterCommands.js';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { keySlot } from '../../keys/slot.js';
import { luaScript } from '../checkpoint/lua.js';
import { SCAN_COUNT, UNLINK_CHUNK } from './SingleRedisTransport.js';
import { Transport, type Round, type RoundAck, type TransportOptions } from './Transport.js';

/**
 * A Redis Cluster: a multi-key UNLINK must stay in one slot and a pipeline
 * on one node, so a batch becomes one UNLINK per slot, sent as one pipeline
 * per node, all nodes at once; the PUBLISH follows only once every node has
 * acknowledged (a subscriber that drops its L1 copy on the message must not
 * re-read the old value from a node that has not deleted it yet). The
 * checkpoint write (its key and the fencing counter share one slot) rides in
 * its node's pipeline. A round carries at most one batch (the batcher is
 * told so); flushes SCAN every master.
 */
export class ClusterTransport extends Transport {
  constructor(
    private readonly cluster: Cluster,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected async attempt(round: Round): Promise<RoundAck> {
    if (round.batches.length > 1) {
      throw new Error('ClusterTransport: one batch per round (oneItemPerRound)');
    }
    const commands: SlotCommand[] = [];
    const cp = round.checkpoint;
    if (cp !== null) {
      commands.push({
        slot: keySlot(cp.key),
        args:
          cp.fence === null
            ? ['set', cp.key, cp.json]
            : ['eval', luaScript('fenced-set-2'), 2, cp.fence.key, cp.key, cp.fence.token, cp.json],
      });
    }
    const batch = round.batches[0];
    if (batch !== undefined) {
      const args: string[] = [];
      for (const k of batch.keys) args.push(k, RedisKeys.lease(k));
      commands.push(...unlinkCommands(args, UNLINK_CHUNK));
    }
    let fenced = false;
    if (commands.length > 0) {
      const replies = await execBySlot(this.cluster, commands);
      fenced = cp !== null && cp.fence !== null && Number(replies[0]) !== 1;
    }
    // Announced even when the checkpoint was fenced off: the deletes landed,
    // and a single Redis publishes in the same pipeline anyway.
    if (batch !== undefined)
      await publishInOrder(this.cluster, this.options.channel, batch.message);
    return { checkpoint: cp === null ? 'none' : fenced ? 'fenced' : 'written' };
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.cluster, patterns, SCAN_COUNT);
    await publishInOrder(this.cluster, this.options.channel, message);
    return removed;
  }
}
