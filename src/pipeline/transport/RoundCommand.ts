import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { luaScript } from '../checkpoint/lua.js';
import type { Round } from './Transport.js';

/**
 * The round script: checkpoint-set-2 as a function, then round-n (both in
 * pipeline/checkpoint/lua). One source for the checkpoint's rules.
 */
export function roundScript(): string {
  return (
    `local function checkpoint_set(KEYS, ARGV)\n${luaScript('checkpoint-set-2')}\nend\n` +
    luaScript('round-n')
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

/** The reply of a round without a checkpoint write. */
export const NO_CHECKPOINT = 2;

/**
 * A whole round trip of the daemon to a single Redis as one command:
 * `EVALSHA <round> …` with the checkpoint write, every batch's keys and
 * lease keys, and every batch's message, encoded to RESP here in one pass
 * and flattened into one Buffer. The script (round-n.lua) writes the
 * checkpoint, then per batch UNLINKs its keys and PUBLISHes its message.
 *
 * Why one command: a round trip is what the daemon pays most for under a
 * stream of small transactions (docs/benchmarks.md). As an ioredis pipeline
 * it cost a Pipeline, a Command and a promise per UNLINK, PUBLISH and the
 * checkpoint write, a result array, a Buffer.concat, and the checkpoint
 * script's full text with every write (plain EVAL). Here it is one Command,
 * one promise, one integer reply. ioredis would also handle every argument
 * on its own (a type check, a `Buffer.byteLength` and a string piece each)
 * and keep the rope of pieces alive until the reply.
 *
 * For a single Redis only: the keys of a round span slots.
 */
export class RoundCommand extends Command {
  private constructor(private readonly wire: Buffer) {
    super('evalsha', []);
  }

  /** The command sending `round` on `channel`, or null when the round carries nothing. */
  static of(round: Round, channel: string): RoundCommand | null {
    const cp = round.checkpoint;
    if (cp === null && round.batches.length === 0) return null;
    let keys = '';
    let keyCount = 0;
    let perBatch = '';
    for (const batch of round.batches) {
      for (const key of batch.keys) {
        const lease = RedisKeys.lease(key);
        // A lease key is the data key with ASCII around it (RedisKeys), so its
        // byte length follows from the key's (the unit test checks this).
        const bytes = Buffer.byteLength(key);
        keys += `$${bytes}\r\n${key}\r\n$${bytes + lease.length - key.length}\r\n${lease}\r\n`;
      }
      keyCount += 2 * batch.keys.length;
      perBatch += bulk(String(2 * batch.keys.length)) + bulk(batch.message);
    }
    const argc = 3 + 2 + keyCount + 5 + 2 * round.batches.length;
    const head =
      `*${argc}\r\n$7\r\nEVALSHA\r\n$40\r\n${roundScriptSha().sha}\r\n` +
      bulk(String(2 + keyCount)) +
      bulk(cp === null ? '' : (cp.fence?.key ?? cp.key)) +
      bulk(cp === null ? '' : cp.key);
    const checkpointArgs =
      cp === null
        ? bulk('') + bulk('') + bulk('') + bulk('')
        : bulk('1') +
          bulk(cp.fence === null ? '' : String(cp.fence.token)) +
          bulk(cp.json) +
          bulk(cp.primary ?? '');
    // Flattened once: the command lives until its reply, and a rope would
    // survive young-generation collections piece by piece.
    return new RoundCommand(
      Buffer.from(head + keys + checkpointArgs + bulk(channel) + perBatch, 'utf8'),
    );
  }

  /** The same bytes as a new command (after NOSCRIPT: a command is sent once). */
  again(): RoundCommand {
    return new RoundCommand(this.wire);
  }

  override toWritable(): Buffer {
    return this.wire;
  }
}

function bulk(value: string): string {
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
}
