import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { createHash } from 'node:crypto';
import type { CheckpointWrite } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { luaScript } from '../../src/pipeline/checkpoint/lua.js';
import { position } from '../../src/pipeline/position.js';
import {
  RoundCommand,
  roundScript,
  roundScriptSha,
} from '../../src/pipeline/transport/RoundCommand.js';
import type { Round } from '../../src/pipeline/transport/Transport.js';

/** Parses one RESP array of bulk strings; returns its elements and the bytes it used. */
function parseCommand(wire: Buffer, at: number): { args: string[]; end: number } {
  const line = (from: number): { text: string; next: number } => {
    const eol = wire.indexOf('\r\n', from);
    return { text: wire.toString('latin1', from, eol), next: eol + 2 };
  };
  let { text, next } = line(at);
  expect(text[0]).toBe('*');
  const count = Number(text.slice(1));
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    ({ text, next } = line(next));
    expect(text[0]).toBe('$');
    const bytes = Number(text.slice(1));
    args.push(wire.toString('utf8', next, next + bytes));
    expect(wire.toString('latin1', next + bytes, next + bytes + 2)).toBe('\r\n');
    next += bytes + 2;
  }
  return { args, end: next };
}

/** Keys with hash tags, stray braces, non-ASCII and astral characters: every lease form. */
const keyArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('{', '}', 'a', 'é', '🐳', ':', ' '), maxLength: 10 }),
  fc.nat(1_000_000).map((n) => `item:${n}`),
);

const checkpoint = (over: Partial<CheckpointWrite>): CheckpointWrite => ({
  checkpoint: { position: position('binlog.000001', 4), gtid: undefined },
  key: 'sluice:checkpoint:{main}',
  json: '{"file":"binlog.000001","pos":4,"é":"🐳"}',
  fence: null,
  primary: null,
  ...over,
});

/** The arguments of a round's one command, parsed back from its bytes. */
function sent(round: Round, channel = 'chan'): string[] {
  const command = RoundCommand.of(round, channel);
  if (command === null) throw new Error('no command');
  const wire = command.toWritable();
  const { args, end } = parseCommand(wire, 0);
  expect(end).toBe(wire.length);
  return args;
}

const checkpointWrites = fc.oneof(
  fc.constant(null),
  fc
    .record({
      fence: fc.option(fc.nat(1000).map((token) => ({ key: 'sluice:fence:{main}', token }))),
      primary: fc.option(fc.constant('run:replid')),
    })
    .map((over) => checkpoint(over)),
);

describe('RoundCommand (a round trip as one EVALSHA of the round script)', () => {
  it("encodes EVALSHA sha numkeys, the checkpoint keys, each key and its lease key, the checkpoint arguments, the channel, each batch's count and message", () => {
    fc.assert(
      fc.property(
        checkpointWrites,
        fc.array(
          fc.record({
            keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 40 }),
            message: fc.string(),
          }),
          { maxLength: 4 },
        ),
        (cp, batches) => {
          fc.pre(cp !== null || batches.length > 0);
          const keys = batches.flatMap((b) => b.keys.flatMap((k) => [k, RedisKeys.lease(k)]));
          expect(sent({ checkpoint: cp, batches })).toEqual([
            'EVALSHA',
            roundScriptSha().sha,
            String(2 + keys.length),
            cp === null ? '' : (cp.fence?.key ?? cp.key),
            cp === null ? '' : cp.key,
            ...keys,
            cp === null ? '' : '1',
            cp?.fence ? String(cp.fence.token) : '',
            cp === null ? '' : cp.json,
            cp?.primary ?? '',
            'chan',
            ...batches.flatMap((b) => [String(2 * b.keys.length), b.message]),
          ]);
        },
      ),
    );
  });

  it('an unfenced checkpoint names its own key as the counter (same slot) and an empty token', () => {
    const cp = checkpoint({ primary: 'run:replid' });
    expect(sent({ checkpoint: cp, batches: [] })).toEqual([
      'EVALSHA',
      roundScriptSha().sha,
      '2',
      cp.key,
      cp.key,
      '1',
      '',
      cp.json,
      'run:replid',
      'chan',
    ]);
  });

  it('a round with neither a checkpoint nor batches is no command', () => {
    expect(RoundCommand.of({ checkpoint: null, batches: [] }, 'chan')).toBe(null);
  });

  it('again() is a new command with the same bytes', () => {
    const first = RoundCommand.of(
      { checkpoint: null, batches: [{ keys: ['a'], message: 'm' }] },
      'c',
    );
    const again = first?.again();
    expect(again).not.toBe(first);
    expect(again?.toWritable()).toBe(first?.toWritable());
  });

  it('the script is checkpoint-set-2 as a function, then round-n; the SHA1 is of that text', () => {
    const { script, sha } = roundScriptSha();
    expect(script).toBe(roundScript());
    expect(script).toBe(
      `local function checkpoint_set(KEYS, ARGV)\n${luaScript('checkpoint-set-2')}\nend\n${luaScript('round-n')}`,
    );
    expect(sha).toBe(createHash('sha1').update(script).digest('hex'));
  });
});
