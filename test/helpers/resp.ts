import { expect } from 'vitest';

/** Parses one RESP array of bulk strings; returns its elements and the bytes it used. */
export function parseCommand(wire: Buffer, at: number): { args: string[]; end: number } {
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
