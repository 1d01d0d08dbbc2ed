import type { Cluster, Redis } from 'ioredis';
import {
  execBySlot,
  masters,
  publishInOrder,
  unlinkCommands,
  unlinkMatching,
  type SlotCommand,
} from '../../infra/clusterCommands.js';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { keySlot } from '../../keys/slot.js';
import { checkpointCommand, checkpointOutcome } from '../checkpoint/checkpointCommand.js';
import { SCAN_COUNT, UNLINK_CHUNK } from './SingleRedisTransport.js';
import {
  checkReplicas,
  Transport,
  type ReplicaWait,
  type Round,
  type RoundAck,
  type TransportOptions,
} from './Transport.js';

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
    if (cp !== null) commands.push({ slot: keySlot(cp.key), args: checkpointCommand(cp) });
    const batch = round.batches[0];
    if (batch !== undefined) {
      const args: string[] = [];
      for (const k of batch.keys) args.push(k, RedisKeys.lease(k));
      commands.push(...unlinkCommands(args, UNLINK_CHUNK));
    }
    let reply: unknown = null;
    if (commands.length > 0) {
      reply = (await execBySlot(this.cluster, commands))[0];
      const wait = this.options.wait ?? null;
      if (wait !== null) await this.waitOn(nodesOf(this.cluster, commands), wait);
    }
    // Announced even when the checkpoint was refused: the deletes landed,
    // and a single Redis publishes in the same pipeline anyway.
    if (batch !== undefined)
      await publishInOrder(this.cluster, this.options.channel, batch.message);
    return { checkpoint: cp === null ? 'none' : checkpointOutcome(cp, reply) };
  }

  protected async attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const removed = await unlinkMatching(this.cluster, patterns, SCAN_COUNT);
    const wait = this.options.wait ?? null;
    if (wait !== null) await this.waitOn(masters(this.cluster), wait);
    await publishInOrder(this.cluster, this.options.channel, message);
    return removed;
  }

  /** WAIT on every node written to (on the connection that wrote: WAIT counts its writes). */
  private async waitOn(nodes: readonly Redis[], wait: ReplicaWait): Promise<void> {
    const replies = await Promise.all(nodes.map((n) => n.wait(wait.replicas, wait.timeoutMs)));
    for (const reply of replies) checkReplicas(reply, wait);
  }
}

/** The master connections serving the slots of `commands` (one each). */
function nodesOf(cluster: Cluster, commands: readonly SlotCommand[]): Redis[] {
  const owners = new Set<string>();
  for (const c of commands) {
    const owner = cluster.slots[c.slot]?.[0];
    // Retried: a WAIT that reached no node would count nothing as replicated.
    if (owner === undefined) throw new Error(`redis cluster: slot ${c.slot} has no known master`);
    owners.add(owner);
  }
  return cluster.nodes('master').filter((n) => owners.has(`${n.options.host}:${n.options.port}`));
}
