import { describe, expect, it } from 'vitest';
import { ABSENT, decodeEntry, encodeEntry, entryJson } from '../../src/cache/codec.js';
import { token } from '../../src/cache/token.js';

describe('L2 entry codec (contract: `v` + JSON, or `n`)', () => {
  it('encodes a value as `v` + its JSON and a missing row as `n`', () => {
    expect(encodeEntry({ present: true, value: { id: 1, name: 'zoë' } })).toBe(
      'v{"id":1,"name":"zoë"}',
    );
    expect(encodeEntry({ present: true, value: null })).toBe('vnull');
    expect(encodeEntry(ABSENT)).toBe('n');
  });

  it('decodes what it encodes', () => {
    expect(decodeEntry('v{"id":1,"tags":["a"]}')).toStrictEqual({
      present: true,
      value: { id: 1, tags: ['a'] },
    });
    expect(decodeEntry('vnull')).toStrictEqual({ present: true, value: null });
    expect(decodeEntry('n')).toBe(ABSENT);
  });

  it('reads nothing (a miss) from an absent key, an empty string or foreign content', () => {
    expect(decodeEntry(null)).toBeNull();
    expect(decodeEntry(undefined)).toBeNull();
    expect(decodeEntry('')).toBeNull();
    // Another writer's values: valid JSON after the first character is still not ours.
    expect(decodeEntry('x1')).toBeNull();
    expect(decodeEntry('{"id":1}')).toBeNull();
    expect(decodeEntry('no')).toBeNull();
    // Ours in form, broken in content.
    expect(decodeEntry('v{"id":')).toBeNull();
  });

  it('hands out the JSON text of a present entry without parsing it', () => {
    expect(entryJson('v{"id":1}')).toBe('{"id":1}');
    expect(entryJson('n')).toBeNull();
    expect(entryJson('x{}')).toBeNull();
  });
});

describe('token', () => {
  it('is 96 random bits of this process (base64url) and a counter, never repeated', () => {
    const a = token();
    const b = token();
    expect(a).toMatch(/^[A-Za-z0-9_-]{16}\.[0-9a-z]+$/);
    expect(b).toMatch(/^[A-Za-z0-9_-]{16}\.[0-9a-z]+$/);
    expect(b.split('.')[0]).toBe(a.split('.')[0]);
    expect(Number.parseInt(b.split('.')[1] ?? '', 36)).toBe(
      Number.parseInt(a.split('.')[1] ?? '', 36) + 1,
    );
  });
});
