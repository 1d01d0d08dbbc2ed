import { describe, expect, it } from 'vitest';
import { decimalSize, Step, stepFor } from '../../src/pipeline/source/selectiveRows.js';

describe('selective decoding: encoded sizes', () => {
  it.each([
    // MySQL's decimal_bin_size: 4 bytes per 9 digits, then 0–4 bytes for the rest, each side.
    [5, 2, 3],
    [9, 0, 4],
    [10, 2, 5],
    [18, 9, 8],
    [20, 10, 10],
    [65, 30, 30],
    [65, 0, 29],
  ])('DECIMAL(%i,%i) takes %i bytes', (precision, scale, bytes) => {
    expect(decimalSize(precision, scale)).toBe(bytes);
  });

  const col = (type: number, metadata?: Record<string, number>) => ({
    name: 'c',
    type,
    ...(metadata ? { metadata } : {}),
  });

  it.each([
    ['TINYINT', col(1), Step.Fixed, 1],
    ['BIGINT', col(8), Step.Fixed, 8],
    ['MEDIUMINT', col(9), Step.Fixed, 3],
    ['DATE', col(10), Step.Fixed, 3],
    ['TIMESTAMP(0)', col(17, { decimals: 0 }), Step.Fixed, 4],
    ['DATETIME(3)', col(18, { decimals: 3 }), Step.Fixed, 7],
    ['DATETIME(6)', col(18, { decimals: 6 }), Step.Fixed, 8],
    ['TIME(5)', col(19, { decimals: 5 }), Step.Fixed, 6],
    ['VARCHAR of 255 bytes', col(15, { max_length: 255 }), Step.Prefixed, 1],
    ['VARCHAR of 256 bytes', col(15, { max_length: 256 }), Step.Prefixed, 2],
    ['MEDIUMBLOB', col(252, { length_size: 3 }), Step.Prefixed, 3],
    ['SET of 64 members', col(248, { size: 8 }), Step.Fixed, 8],
    ['BIT(17)', col(16, { bits: 17 }), Step.Fixed, 3],
    ['DECIMAL(20,10)', col(246, { precision: 20, decimals: 10 }), Step.Fixed, 10],
    // Not plain: decoded and dropped rather than guessed.
    ['VARCHAR COMPRESSED', col(141, { max_length: 100 }), Step.Drop, 0],
    ['BLOB COMPRESSED', col(140, { length_size: 2 }), Step.Drop, 0],
    ['pre-5.6 DATETIME', col(12), Step.Drop, 0],
    ['DECIMAL without metadata', col(246), Step.Drop, 0],
    ['an unknown type', col(77), Step.Drop, 0],
  ])('%s', (_, column, step, size) => {
    expect(stepFor(column)).toEqual({ step, size });
  });
});
