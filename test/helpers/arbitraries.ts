import fc from 'fast-check';

/**
 * Redis keys with hash tags, stray braces, spaces, non-ASCII and astral
 * characters: every slot rule and every lease-key form gets exercised.
 */
export const redisKeyArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc
    .tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))
    .map(([a, b, c]) => `${a}{${b}}${c}`),
  fc.string({ unit: fc.constantFrom('{', '}', 'a', 'é', '🐳', ':', ' '), maxLength: 10 }),
  fc.nat(1_000_000).map((n) => `item:${n}`),
);
