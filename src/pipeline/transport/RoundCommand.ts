import { createHash } from 'node:crypto';
import { luaScript } from '../checkpoint/lua.js';
import { bulk, EncodedCommand } from './EncodedCommand.js';
import type { Round } from './Transport.js';

/**
 * The round script: checkpoint-set-2 as a function, then round-2 (both in
 * pipeline/checkpoint/lua). One source for the checkpoint's rules.
 */
export function roundScript(): string {
  return (
    `local function checkpoint_set(KEYS, ARGV)\n${luaScript('checkpoint-set-2')}\nend\n` +
    luaScript('round-2')
  );
}

let loaded: { script: string; sha: string } | undefined;

/** The round script and its SHA1 (what EVALSHA names it by). */
export function roundScriptSha(): { script: string; sha: string } {
  if (loaded === undefined) {
    const script = roundScript();
    loaded = { script, sha: createHash('sha1').update(script).digest('hex') };
  }
  return loaded;
}

/**
 * The end of a round trip of the daemon to a single Redis as one command:
 * `EVALSHA <round> 2 <fence key> <checkpoint key> …` with the checkpoint
 * write and every batch's message, encoded to RESP here in one pass and
 * flattened into one Buffer. The script (round-2.lua) writes the checkpoint,
 * then PUBLISHes each message. The round's UNLINKs go just before it as
 * plain commands (UnlinkCommand): Redis deletes a key given on the command
 * line for a fraction of what the same key costs it through a script.
 *
 * A round of one batch and no checkpoint (the common round: a checkpoint
 * rides at most every CHECKPOINT_DELAY_MS) ends with a plain
 * `PUBLISH <channel> <message>` instead: Redis spends about six times as
 * long on the script as on the PUBLISH alone (2.4–2.5 against 0.40 µs per
 * call, one subscriber, INFO commandstats), and runs it between the deletion and the moment it hands the deletion's
 * notification and the message to their subscribers (docs/benchmarks.md,
 * twelfth sitting).
 *
 * Why one command for the rest: a round trip is what the daemon pays most
 * for under a stream of small transactions (docs/benchmarks.md). As an
 * ioredis pipeline it cost a Pipeline, a Command and a promise per PUBLISH
 * and the checkpoint write, a result array, a Buffer.concat, and the
 * checkpoint script's full text with every write (plain EVAL).
 */
export class RoundCommand extends EncodedCommand {
  private constructor(
    /** 'evalsha' (the round script: NOSCRIPT is possible) or 'publish'. */
    name: 'evalsha' | 'publish',
    wire: Buffer,
  ) {
    super(name, wire);
  }

  /** The command ending `round` on `channel`, or null when it has neither a checkpoint nor batches. */
  static of(round: Round, channel: string): RoundCommand | null {
    const cp = round.checkpoint;
    if (cp === null && round.batches.length === 0) return null;
    const only = round.batches.length === 1 ? round.batches[0] : undefined;
    if (cp === null && only !== undefined) {
      return new RoundCommand(
        'publish',
        Buffer.from(`*3\r\n$7\r\nPUBLISH\r\n${bulk(channel)}${bulk(only.message)}`),
      );
    }
    let messages = '';
    for (const batch of round.batches) messages += bulk(batch.message);
    const head =
      `*${3 + 2 + 5 + round.batches.length}\r\n$7\r\nEVALSHA\r\n$40\r\n${roundScriptSha().sha}\r\n$1\r\n2\r\n` +
      bulk(cp === null ? '' : (cp.fence?.key ?? cp.key)) +
      bulk(cp === null ? '' : cp.key);
    const checkpointArgs =
      cp === null
        ? '$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n'
        : bulk('1') +
          bulk(cp.fence === null ? '' : String(cp.fence.token)) +
          bulk(cp.json) +
          bulk(cp.primary ?? '');
    return new RoundCommand(
      'evalsha',
      Buffer.from(head + checkpointArgs + bulk(channel) + messages),
    );
  }

  /** The same bytes as a new command (after NOSCRIPT: a command is sent once). */
  again(): RoundCommand {
    return new RoundCommand(this.name as 'evalsha' | 'publish', this.toWritable());
  }
}
