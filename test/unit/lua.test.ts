import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { luaScript } from '../../src/pipeline/checkpoint/lua.js';

describe('luaScript', () => {
  it("is the script file's text, as a string (what EVAL and the round script's wrapper take)", () => {
    const file = readFileSync(
      new URL('../../src/pipeline/checkpoint/lua/round-2.lua', import.meta.url),
      'utf8',
    );
    const text = luaScript('round-2');
    expect(typeof text).toBe('string');
    expect(text).toBe(file);
    expect(luaScript('round-2')).toBe(text);
  });
});
