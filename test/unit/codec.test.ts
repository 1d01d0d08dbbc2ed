import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';

describe('invalidation message codec (contract v1)', () => {
  it('encodes the contract shapes exactly', () => {
    expect(
      encodeInvalidation('main', 17, {
        keys: ['user:1', 'user:email:a@b'],
        pos: 'binlog.000003:1234',
      }),
    ).toBe(
      '{"v":1,"src":"main","seq":17,"keys":["user:1","user:email:a@b"],"pos":"binlog.000003:1234"}',
    );
    expect(encodeInvalidation('main', 18, { patterns: ['user:*'] })).toBe(
      '{"v":1,"src":"main","seq":18,"patterns":["user:*"]}',
    );
    expect(encodeInvalidation('main', 19, { flush: true })).toBe(
      '{"v":1,"src":"main","seq":19,"flush":true}',
    );
    expect(encodeHeartbeat('main', 17)).toBe('{"v":1,"src":"main","seq":17,"type":"hb"}');
  });

  it('decodes what it encodes', () => {
    expect(decodeMessage(encodeInvalidation('s', 1, { keys: ['a'], pos: 'f:4' }))).toEqual({
      v: 1,
      src: 's',
      seq: 1,
      type: 'inv',
      keys: ['a'],
      patterns: [],
      flush: false,
      pos: 'f:4',
    });
    expect(decodeMessage(encodeHeartbeat('s', 3))).toEqual({ v: 1, src: 's', seq: 3, type: 'hb' });
  });

  it.each([
    ['not JSON', 'nope'],
    ['a JSON scalar', '42'],
    ['null', 'null'],
    ['another version', '{"v":2,"src":"s","seq":1,"keys":["a"]}'],
    ['no src', '{"v":1,"seq":1,"keys":["a"]}'],
    ['a fractional seq', '{"v":1,"src":"s","seq":1.5,"keys":["a"]}'],
    ['a negative seq', '{"v":1,"src":"s","seq":-1,"keys":["a"]}'],
    ['a seq as text', '{"v":1,"src":"s","seq":"1","keys":["a"]}'],
    ['keys that are not strings', '{"v":1,"src":"s","seq":1,"keys":[1]}'],
    ['keys that are not a list', '{"v":1,"src":"s","seq":1,"keys":"a"}'],
    ['patterns that are not strings', '{"v":1,"src":"s","seq":1,"patterns":[{}]}'],
    ['flush that is not a boolean', '{"v":1,"src":"s","seq":1,"flush":"yes"}'],
    ['an unknown type', '{"v":1,"src":"s","seq":1,"type":"other"}'],
    ['a position that is not text', '{"v":1,"src":"s","seq":1,"keys":["a"],"pos":5}'],
  ])('refuses %s', (_name, raw) => {
    expect(decodeMessage(raw)).toBe(null);
  });

  it('refuses an oversized message before parsing it; a message of exactly the limit passes', () => {
    const big = encodeInvalidation('s', 1, { keys: ['x'.repeat(2000)] });
    expect(decodeMessage(big, 1024)).toBe(null);
    expect(decodeMessage(big, 4096)).not.toBe(null);
    expect(decodeMessage(big, big.length)).not.toBe(null);
    expect(decodeMessage(big, big.length - 1)).toBe(null);
  });

  it('leaves empty lists and absent fields out of the encoding', () => {
    expect(encodeInvalidation('s', 2, { keys: [], patterns: [], flush: false })).toBe(
      '{"v":1,"src":"s","seq":2}',
    );
    expect(decodeMessage('{"v":1,"src":"s","seq":2}')).toEqual({
      v: 1,
      src: 's',
      seq: 2,
      type: 'inv',
      keys: [],
      patterns: [],
      flush: false,
      pos: undefined,
    });
  });

  it('decodes a Buffer as UTF-8', () => {
    const raw = encodeInvalidation('s', 3, { keys: ['user:héllo 👋'] });
    expect(decodeMessage(Buffer.from(raw, 'utf8'))).toMatchObject({ keys: ['user:héllo 👋'] });
  });
});
