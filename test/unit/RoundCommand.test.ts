import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { CheckpointWrite } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { luaScript } from '../../src/pipeline/checkpoint/lua.js';
import {
  RoundCommand,
  roundScript,
  roundScriptSha,
} from '../../src/pipeline/transport/RoundCommand.js';
import type { Round } from '../../src/pipeline/transport/Transport.js';
import { checkpointWrite } from '../helpers/checkpointWrite.js';
import { parseCommand } from '../helpers/resp.js';

/** Messages with quotes, line breaks, non-ASCII and astral characters (RESP is length-prefixed). */
const messageArb = fc.string({
  unit: fc.constantFrom('a', '"', '\r', '\n', 'é', '🐳', '{', ' '),
  maxLength: 30,
});

/** Non-ASCII in the JSON: the encoder counts bytes, not characters. */
const checkpoint = (over: Partial<CheckpointWrite>): CheckpointWrite =>
  checkpointWrite({ json: '{"file":"binlog.000001","pos":4,"é":"🐳"}', ...over });

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

describe('RoundCommand (the end of a round trip: one EVALSHA of the round script, or one PUBLISH)', () => {
  it("encodes EVALSHA sha 2, the checkpoint's keys and arguments, the channel, each batch's message in order (never a key: the UNLINKs go before it)", () => {
    fc.assert(
      fc.property(
        checkpointWrites,
        fc.array(
          fc.record({
            keys: fc.array(fc.string(), { minLength: 1, maxLength: 5 }),
            message: messageArb,
          }),
          { maxLength: 4 },
        ),
        (cp, batches) => {
          fc.pre(cp !== null || batches.length > 0);
          // One batch without a checkpoint is a plain PUBLISH (next test).
          fc.pre(cp !== null || batches.length > 1);
          expect(RoundCommand.of({ checkpoint: cp, batches }, 'chan')?.name).toBe('evalsha');
          expect(sent({ checkpoint: cp, batches })).toEqual([
            'EVALSHA',
            roundScriptSha().sha,
            '2',
            cp === null ? '' : (cp.fence?.key ?? cp.key),
            cp === null ? '' : cp.key,
            cp === null ? '' : '1',
            cp?.fence ? String(cp.fence.token) : '',
            cp === null ? '' : cp.json,
            cp?.primary ?? '',
            'chan',
            ...batches.map((b) => b.message),
          ]);
        },
      ),
    );
  });

  it('one batch and no checkpoint: a plain PUBLISH of its message on the channel (no script to run in Redis)', () => {
    fc.assert(
      fc.property(messageArb, messageArb, (channel, message) => {
        const round = { checkpoint: null, batches: [{ keys: ['k'], message }] };
        expect(RoundCommand.of(round, channel)?.name).toBe('publish');
        expect(sent(round, channel)).toEqual(['PUBLISH', channel, message]);
      }),
    );
  });

  it('one batch with a checkpoint, or two batches without: the script', () => {
    const one = { keys: ['k'], message: 'm1' };
    const two = { keys: ['j'], message: 'm2' };
    expect(sent({ checkpoint: checkpoint({}), batches: [one] })[0]).toBe('EVALSHA');
    expect(sent({ checkpoint: null, batches: [one, two] })).toEqual([
      'EVALSHA',
      roundScriptSha().sha,
      '2',
      '',
      '',
      '',
      '',
      '',
      '',
      'chan',
      'm1',
      'm2',
    ]);
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

  it('again() is a new command with the same name and bytes', () => {
    const first = RoundCommand.of(
      { checkpoint: checkpoint({}), batches: [{ keys: ['a'], message: 'm' }] },
      'c',
    );
    const again = first?.again();
    expect(again).not.toBe(first);
    expect(again?.name).toBe('evalsha');
    expect(again?.toWritable()).toBe(first?.toWritable());
    const publish = RoundCommand.of(
      { checkpoint: null, batches: [{ keys: ['a'], message: 'm' }] },
      'c',
    );
    expect(publish?.again().name).toBe('publish');
  });

  it('the script is checkpoint-set-2 as a function, then round-2; the SHA1 is of that text', () => {
    const { script, sha } = roundScriptSha();
    expect(script).toBe(roundScript());
    expect(script).toBe(
      `local function checkpoint_set(KEYS, ARGV)\n${luaScript('checkpoint-set-2')}\nend\n${luaScript('round-2')}`,
    );
    expect(sha).toBe(createHash('sha1').update(script).digest('hex'));
  });
});
