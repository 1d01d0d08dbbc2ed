/**
 * A statement as it may be logged: whitespace collapsed, runs of `?`
 * placeholders and of repeated `(?, ?)` row groups shortened to a count, and
 * the result cut to `max` characters. It never contains parameter values:
 * every statement Sluice runs passes values as `?` parameters.
 *
 * `SELECT * FROM t WHERE id IN (?, ?, ?)` → `SELECT * FROM t WHERE id IN (?×3)`
 */
export function statementShape(sql: string, max = 500): string {
  const shape = sql
    .replace(/\s+/g, ' ')
    .trim()
    // (?, ?), (?, ?), … → (?, ?)×N
    .replace(/(\([?,\s]*\?\))(?:\s*,\s*\1)+/g, (run, group: string) => {
      const n = run.split(group).length - 1;
      return `${group}×${n}`;
    })
    // ?, ?, ? → ?×3
    .replace(/\?(?:\s*,\s*\?)+/g, (run) => `?×${run.split('?').length - 1}`);
  return shape.length > max ? `${shape.slice(0, max - 1)}…` : shape;
}
