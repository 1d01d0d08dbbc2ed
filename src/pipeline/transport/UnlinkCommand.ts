import { Command } from 'ioredis';
import { RedisKeys } from '../../keys/RedisKeys.js';

/**
 * `UNLINK k1 lease(k1) k2 lease(k2) …`, encoded to RESP here in one pass and
 * flattened into one Buffer.
 *
 * ioredis handles every argument of a command on its own (`args.flat()`, a
 * type check, a `Buffer.byteLength` and a string piece each) and keeps the
 * resulting rope of small strings alive until the reply; with two arguments
 * per key that was the largest part of the sink's CPU at replay rates
 * (docs/benchmarks.md). The reply is UNLINK's usual integer.
 *
 * For a single Redis only: the command has no key arguments ioredis could
 * route by, so a Cluster client must not be given one.
 */
export class UnlinkCommand extends Command {
  private readonly wire: Buffer;

  private constructor(text: string) {
    super('unlink', []);
    // Flattened once: the command lives until its reply, and a rope would
    // survive young-generation collections piece by piece.
    this.wire = Buffer.from(text, 'utf8');
  }

  /** The commands deleting `keys` and their lease keys, at most `maxArgs` arguments each. */
  static forKeys(keys: Iterable<string>, maxArgs: number): UnlinkCommand[] {
    const out: UnlinkCommand[] = [];
    let body = '';
    let args = 0;
    for (const key of keys) {
      const lease = RedisKeys.lease(key);
      // A lease key is the data key with ASCII around it (RedisKeys), so its
      // byte length follows from the key's (the unit test checks this).
      const bytes = Buffer.byteLength(key);
      body += `$${bytes}\r\n${key}\r\n$${bytes + lease.length - key.length}\r\n${lease}\r\n`;
      args += 2;
      if (args >= maxArgs) {
        out.push(new UnlinkCommand(`*${args + 1}\r\n$6\r\nUNLINK\r\n${body}`));
        body = '';
        args = 0;
      }
    }
    if (args > 0) out.push(new UnlinkCommand(`*${args + 1}\r\n$6\r\nUNLINK\r\n${body}`));
    return out;
  }

  override toWritable(): Buffer {
    return this.wire;
  }
}
