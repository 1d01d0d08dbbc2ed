import { describe, expect, it } from 'vitest';
import { parseRowJson } from '../../src/cli/explain.js';
import { SluiceError } from '../../src/errors/index.js';

describe('explain: rows from the command line', () => {
  it('keeps integers beyond 2^53 exact and leaves everything else alone', () => {
    expect(
      parseRowJson(
        '{"id": 18446744073709551615, "n": -9007199254740993, "small": 42, "f": 1.5e3, "s": "123456789012345678901", "q": "a\\"1"}',
        '--row',
      ),
    ).toEqual({
      id: '18446744073709551615',
      n: '-9007199254740993',
      small: 42,
      f: 1500,
      s: '123456789012345678901',
      q: 'a"1',
    });
  });

  it.each([
    ['{bad', '--row: not valid JSON'],
    ['[1]', '--row: must be a JSON object'],
    ['null', '--row: must be a JSON object'],
  ])('refuses %j with E_USAGE', (text, message) => {
    let err: unknown;
    try {
      parseRowJson(text, '--row');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('E_USAGE');
    expect((err as SluiceError).exitCode).toBe(2);
    expect((err as SluiceError).message).toContain(message);
  });
});
