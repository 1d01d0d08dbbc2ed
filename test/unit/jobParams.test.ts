import { describe, expect, it } from 'vitest';
import { decodeParams, encodeParams, ParamError } from '../../src/jobs/params.js';
import { sqlShape } from '../../src/jobs/sqlShape.js';

describe('write-behind job parameters', () => {
  it('survive a JSON round trip exactly: BigInt, Date, bytes, null, strings, numbers, booleans', () => {
    const date = new Date('2024-02-29T23:59:59.123Z');
    const params = [
      18446744073709551615n,
      -9007199254740993n,
      date,
      Buffer.from([0, 255, 16]),
      new Uint8Array([1, 2, 3]).subarray(1),
      null,
      'Zoë 🐳',
      1.5,
      true,
    ];
    const json = JSON.parse(JSON.stringify(encodeParams(params))) as unknown;
    expect(json).toEqual([
      { $bigint: '18446744073709551615' },
      { $bigint: '-9007199254740993' },
      { $date: '2024-02-29T23:59:59.123Z' },
      { $bytes: 'AP8Q' },
      { $bytes: 'AgM=' },
      null,
      'Zoë 🐳',
      1.5,
      true,
    ]);
    expect(decodeParams(json)).toEqual([
      18446744073709551615n,
      -9007199254740993n,
      date,
      Buffer.from([0, 255, 16]),
      Buffer.from([2, 3]),
      null,
      'Zoë 🐳',
      1.5,
      true,
    ]);
  });

  it('refuses what JSON or mysql2 would mangle, naming the index', () => {
    expect(() => encodeParams([1, undefined])).toThrow('params[1] is undefined');
    expect(() => encodeParams([Number.NaN])).toThrow('params[0] is NaN');
    expect(() => encodeParams([Infinity])).toThrow(ParamError);
    expect(() => encodeParams([{ a: 1 }])).toThrow('params[0] is an object');
    expect(() => encodeParams([[1, 2]])).toThrow('params[0] is an array');
    expect(() => encodeParams([new Date('nope')])).toThrow('an invalid Date');
    expect(() => encodeParams([Symbol('s')])).toThrow(TypeError);
  });

  it('refuses job data no encoder wrote', () => {
    expect(() => decodeParams('x')).toThrow(ParamError);
    expect(() => decodeParams([{ $bigint: '1e3' }])).toThrow('params[0] is an unknown object');
    expect(() => decodeParams([{ other: 1 }])).toThrow(ParamError);
  });
});

describe('sqlShape', () => {
  it('keeps a parameterized statement, whitespace collapsed', () => {
    expect(sqlShape('UPDATE  t\n  SET v = ?\tWHERE id = ?')).toBe(
      'UPDATE t SET v = ? WHERE id = ?',
    );
  });

  it('replaces inlined literals, keeps identifiers with digits', () => {
    expect(
      sqlShape(
        "UPDATE t2 SET `col_1` = 'it''s secret', b = \"x\\\"y\", c = -12.5e3, d = 0xFF, e = x'0a' WHERE id = 42",
      ),
    ).toBe('UPDATE t2 SET `col_1` = ?, b = ?, c = ?, d = ?, e = ? WHERE id = ?');
  });

  it('trims, and replaces every literal form: bits, decimals, exponents', () => {
    expect(sqlShape("  SELECT 1, b'0101', 3.14159, 1e-10, 2E10, 7.5E+12 FROM t \n")).toBe(
      'SELECT ?, ?, ?, ?, ?, ? FROM t',
    );
  });

  it('a shape of exactly 300 characters is kept whole', () => {
    const sql = `SELECT ${'a'.repeat(286)} FROM t`;
    expect(sql).toHaveLength(300);
    expect(sqlShape(sql)).toBe(sql);
  });

  it('is cut at 300 characters', () => {
    const shape = sqlShape(`SELECT ${'a, '.repeat(200)}b FROM t`);
    expect(shape).toHaveLength(301);
    expect(shape.endsWith('…')).toBe(true);
  });
});
