import calculateSlot from 'cluster-key-slot';
import fc from 'fast-check';
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

describe('keySlot and ioredis (cluster-key-slot)', () => {
  // ioredis routes by cluster-key-slot. It agrees with Redis (and keySlot)
  // except on keys whose first "{" is followed at once by "}" with a later
  // "}": Redis hashes the whole key, cluster-key-slot the text after the
  // empty tag. The Redis server decides CROSSSLOT for the lease scripts, so
  // Sluice follows Redis; ioredis's MOVED handling corrects its routing.
  const ioredisDiffers = (key: string): boolean => /^[^{]*\{\}.*\}/s.test(key);

  it('agree on every other key', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('{', '}', 'a', 'b', ':', '1', 'é', '👋'),
          maxLength: 12,
        }),
        (key) => {
          if (ioredisDiffers(key)) return;
          expect(keySlot(key)).toBe(calculateSlot(key));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('differ where Redis hashes the whole key after an empty tag', () => {
    expect(keySlot('foo{}{bar}')).toBe(8363); // CLUSTER KEYSLOT
    expect(calculateSlot('foo{}{bar}')).toBe(keySlot('{bar')); // 4015
    expect(ioredisDiffers('foo{}{bar}')).toBe(true);
    expect(ioredisDiffers('foo{}')).toBe(false);
    expect(keySlot('foo{}')).toBe(calculateSlot('foo{}'));
  });
});
