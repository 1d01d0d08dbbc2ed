import { RedisKeys } from '../../keys/RedisKeys.js';
import { EncodedCommand } from './EncodedCommand.js';

/**
 * `UNLINK k1 lease(k1) k2 lease(k2) …`, pre-encoded (EncodedCommand): with
 * two arguments per key, ioredis's own encoding was the largest part of the
 * sink's CPU at replay rates (docs/benchmarks.md). The reply is UNLINK's
 * usual integer.
 *
 * For a single Redis only: the command has no key arguments ioredis could
 * route by, so a Cluster client must not be given one.
 */
export class UnlinkCommand extends EncodedCommand {
  private constructor(args: number, body: string) {
    super('unlink', Buffer.from(`*${args + 1}\r\n$6\r\nUNLINK\r\n${body}`));
  }

  /**
   * The commands deleting the keys of `keyLists` (a round's batches, in
   * order) and their lease keys, each with at most `maxArgs` arguments (at
   * least 2: a key and its lease key stay together). The lists are read as
   * they are: no flattened copy (`flatMap` cost ~80 ns a key, docs/benchmarks.md).
   */
  static forKeyLists(keyLists: Iterable<readonly string[]>, maxArgs: number): UnlinkCommand[] {
    const out: UnlinkCommand[] = [];
    let body = '';
    let args = 0;
    for (const keys of keyLists) {
      for (const key of keys) {
        if (args > 0 && args + 2 > maxArgs) {
          out.push(new UnlinkCommand(args, body));
          body = '';
          args = 0;
        }
        const lease = RedisKeys.lease(key);
        // A lease key is the data key with ASCII around it (RedisKeys), so its
        // byte length follows from the key's (the unit test checks this).
        const bytes = Buffer.byteLength(key);
        body += `$${bytes}\r\n${key}\r\n$${bytes + lease.length - key.length}\r\n${lease}\r\n`;
        args += 2;
      }
    }
    if (args > 0) out.push(new UnlinkCommand(args, body));
    return out;
  }
}
