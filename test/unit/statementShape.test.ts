import { describe, expect, it } from 'vitest';
import { statementShape } from '../../src/db/statementShape.js';

describe('statementShape', () => {
  it('collapses whitespace and runs of placeholders to a count', () => {
    expect(statementShape('SELECT *\n  FROM `t`\tWHERE `id` IN (?, ?, ?)')).toBe(
      'SELECT * FROM `t` WHERE `id` IN (?×3)',
    );
    expect(statementShape('SELECT ? AS a, ? AS b')).toBe('SELECT ? AS a, ? AS b');
  });

  it('collapses the row groups of a multi-row INSERT', () => {
    const sql = `INSERT INTO t (a, b) VALUES ${Array.from({ length: 1000 }, () => '(?, ?)').join(', ')}`;
    expect(statementShape(sql)).toBe('INSERT INTO t (a, b) VALUES (?×2)×1000');
  });

  it('trims, and counts runs however the commas are spaced', () => {
    expect(statementShape('  SELECT ?,?, ?  , ? \n')).toBe('SELECT ?×4');
    expect(statementShape('VALUES (?, ?),(?, ?) , (?, ?)')).toBe('VALUES (?×2)×3');
  });

  it('a shape of exactly `max` characters is kept whole', () => {
    expect(statementShape('SELECT 1', 8)).toBe('SELECT 1');
  });

  it('is bounded', () => {
    const shape = statementShape(`SELECT ${'x, '.repeat(1000)}y`, 100);
    expect(shape).toHaveLength(100);
    expect(shape.endsWith('…')).toBe(true);
  });
});
