import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { keysOf } from '../../src/pipeline/transport/SingleRedisTransport.js';
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
          const commands = UnlinkCommand.forKeys(keys, maxArgs);
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
      UnlinkCommand.forKeys(['a', 'b'], 1).map((c) => parseCommand(c.toWritable(), 0).args),
    ).toEqual([
      ['UNLINK', 'a', RedisKeys.lease('a')],
      ['UNLINK', 'b', RedisKeys.lease('b')],
    ]);
  });

  it('sends nothing for no keys', () => {
    expect(UnlinkCommand.forKeys([], 1000)).toEqual([]);
  });
});

describe("keysOf (a round's keys for its UNLINKs)", () => {
  it('lists every key of every batch, in order; one batch is passed as it is', () => {
    fc.assert(
      fc.property(fc.array(fc.array(redisKeyArb, { maxLength: 8 }), { maxLength: 5 }), (lists) => {
        const round = {
          checkpoint: null,
          batches: lists.map((keys, i) => ({ keys, message: `m${i}` })),
        };
        const keys = keysOf(round);
        expect(keys).toEqual(lists.flat());
        if (lists.length === 1) expect(keys).toBe(lists[0]);
        else expect(lists.some((l) => l === keys)).toBe(false); // a new array: no batch is changed
      }),
    );
  });
});
