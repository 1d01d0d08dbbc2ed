import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { UnlinkCommand } from '../../src/pipeline/transport/UnlinkCommand.js';

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

describe('UnlinkCommand (pre-encoded UNLINK of keys and their lease keys)', () => {
  it('encodes exactly UNLINK k1 lease(k1) k2 lease(k2) …, in chunks of at most maxArgs', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { maxLength: 120 }),
        fc.integer({ min: 2, max: 50 }),
        (keys, maxArgs) => {
          const sent: string[] = [];
          for (const command of UnlinkCommand.forKeys(keys, maxArgs)) {
            const wire = command.toWritable();
            const { args, end } = parseCommand(wire, 0);
            expect(end).toBe(wire.length);
            expect(args[0]).toBe('UNLINK');
            expect(args.length - 1).toBeGreaterThan(0);
            expect(args.length - 1).toBeLessThanOrEqual(maxArgs + 1); // pairs stay together
            sent.push(...args.slice(1));
          }
          expect(sent).toEqual(keys.flatMap((k) => [k, RedisKeys.lease(k)]));
        },
      ),
    );
  });

  it('sends nothing for no keys', () => {
    expect(UnlinkCommand.forKeys([], 1000)).toEqual([]);
  });
});
