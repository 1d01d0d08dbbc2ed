import { describe, expect, it } from 'vitest';
import {
  checkpointCommand,
  checkpointOutcome,
} from '../../src/pipeline/checkpoint/checkpointCommand.js';
import { luaScript } from '../../src/pipeline/checkpoint/lua.js';
import { checkpointWrite } from '../helpers/checkpointWrite.js';

describe('checkpointCommand', () => {
  it('a write nothing guards is a plain SET, written whatever the reply', () => {
    const w = checkpointWrite({});
    expect(checkpointCommand(w)).toEqual(['set', w.key, w.json]);
    expect(checkpointOutcome(w, 'OK')).toBe('written');
  });

  it('a fenced or primary-checked write is the checkpoint-set script; its reply is the outcome', () => {
    const fenced = checkpointWrite({
      fence: { key: 'sluice:fence:{main}', token: 7 },
      primary: 'run:repl',
    });
    expect(checkpointCommand(fenced)).toEqual([
      'eval',
      luaScript('checkpoint-set-2'),
      2,
      'sluice:fence:{main}',
      fenced.key,
      7,
      fenced.json,
      'run:repl',
    ]);
    // Unfenced: the checkpoint key stands in for the counter (same slot), token ''.
    const checked = checkpointWrite({ primary: 'run:repl' });
    expect(checkpointCommand(checked).slice(3)).toEqual([
      checked.key,
      checked.key,
      '',
      checked.json,
      'run:repl',
    ]);
    expect(checkpointOutcome(checked, 1)).toBe('written');
    expect(checkpointOutcome(checked, 0)).toBe('fenced');
    expect(checkpointOutcome(checked, -1)).toBe('other-primary');
  });
});
