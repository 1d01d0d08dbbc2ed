import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { UnlinkCommand } from '../../src/pipeline/transport/UnlinkCommand.js';
import { redisKeyArb } from '../helpers/arbitraries.js';
import { parseCommand } from '../helpers/resp.js';

describe('UnlinkCommand (pre-encoded UNLINK of keys and their lease keys)', () => {
  it('encodes exactly UNLINK k1 lease(k1) k2 lease(k2) …, in chunks of at most maxArgs', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(redisKeyArb, { maxLength: 120 }),
        fc.integer({ min: 2, max: 50 }),
        (keys, maxArgs) => {
          const sent: string[] = [];
          const commands = UnlinkCommand.forKeyLists([keys], maxArgs);
          // As few commands as the limit allows: each full but the last.
          expect(commands).toHaveLength(Math.ceil(keys.length / Math.floor(maxArgs / 2)));
          for (const command of commands) {
            const wire = command.toWritable();
            const { args, end } = parseCommand(wire, 0);
            expect(end).toBe(wire.length);
            expect(args[0]).toBe('UNLINK');
            expect(args.length - 1).toBeGreaterThan(0);
            expect(args.length - 1).toBeLessThanOrEqual(maxArgs);
            sent.push(...args.slice(1));
          }
          expect(sent).toEqual(keys.flatMap((k) => [k, RedisKeys.lease(k)]));
        },
      ),
    );
  });

  it('a limit under 2 still keeps a key with its lease key: one pair per command', () => {
    expect(
      UnlinkCommand.forKeyLists([['a', 'b']], 1).map((c) => parseCommand(c.toWritable(), 0).args),
    ).toEqual([
      ['UNLINK', 'a', RedisKeys.lease('a')],
      ['UNLINK', 'b', RedisKeys.lease('b')],
    ]);
  });

  it('sends nothing for no keys', () => {
    expect(UnlinkCommand.forKeyLists([], 1000)).toEqual([]);
    expect(UnlinkCommand.forKeyLists([[], []], 1000)).toEqual([]);
  });
});

describe('UnlinkCommand.forKeyLists over several lists (a round of several batches)', () => {
  it('sends the same bytes as for the lists joined: in order, chunked across list boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(redisKeyArb, { maxLength: 8 }), { maxLength: 5 }),
        fc.integer({ min: 2, max: 12 }),
        (lists, maxArgs) => {
          const wire = (cs: UnlinkCommand[]) => cs.map((c) => c.toWritable().toString('latin1'));
          expect(wire(UnlinkCommand.forKeyLists(lists, maxArgs))).toEqual(
            wire(UnlinkCommand.forKeyLists([lists.flat()], maxArgs)),
          );
        },
      ),
    );
  });
});
