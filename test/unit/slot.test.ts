import { describe, expect, it } from 'vitest';
import { crc16, hashTag, keySlot } from '../../src/keys/slot.js';

describe('keySlot', () => {
  // Expected values from CLUSTER KEYSLOT (redis-server 7.0) and the Redis Cluster spec.
  it.each<[string, number]>([
    ['foo', 12182],
    ['123456789', 12739],
    ['somekey', 11058],
    ['foo{hash_tag}', 2515],
    ['hash_tag', 2515],
    ['{user1000}.following', 3443],
    ['{user1000}.followers', 3443],
    ['foo{}{bar}', 8363],
    ['foo{{bar}}zap', 4015],
    ['foo{bar}{zap}', 5061],
    ['user:1', 10778],
    ['héllo 👋', 7935],
    ['{}', 15257],
    ['}{', 12793],
    ['', 0],
  ])('keySlot(%j) = %i', (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it('puts keys sharing a hash tag in one slot', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{hash_tag}')).toBe(keySlot('hash_tag'));
  });

  it('CRC16/XMODEM check value', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });
});

describe('hashTag', () => {
  it.each<[string, string | null]>([
    ['plain', null],
    ['{user1000}.following', 'user1000'],
    ['foo{}{bar}', null],
    ['foo{{bar}}zap', '{bar'],
    ['foo{bar}{zap}', 'bar'],
    ['}{x}', 'x'],
    ['{', null],
    ['a}', null],
  ])('hashTag(%j) = %j', (key, tag) => {
    expect(hashTag(key)).toBe(tag);
  });
});
