import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/pipeline/change/RowChange.js';
import type { BinlogPosition } from '../../src/pipeline/position.js';
import { tableMapRepeats } from '../../src/pipeline/source/tableMapReuse.js';
import { readRange } from '../helpers/binlogRange.js';
import { TestDb } from '../helpers/db.js';

/**
 * A TABLE_MAP event whose body repeats the one its table's entry was built
 * from is dropped and the entry kept (tableMapReuse.ts). Against a real
 * server: one statement per transaction, so one TABLE_MAP each; two ALTERs
 * change the body between them (a column in the middle, a VARCHAR whose
 * length prefix grows to 2 bytes). A kept stale entry would decode the rows
 * after an ALTER with the old columns: misaligned values, or a missing one.
 */
async function read(
  table: string,
  from: BinlogPosition,
  to: BinlogPosition,
  columns?: ReadonlySet<string>,
): Promise<Array<{ kind: string; row: Row }>> {
  return (await readRange(table, from, to, columns)).map((change) => ({
    kind: change.kind,
    row: change.kind === 'delete' ? change.before : change.after,
  }));
}

describe('repeated TABLE_MAP events against the server', () => {
  let db: TestDb;
  let table: string;
  let from: BinlogPosition;
  let to: BinlogPosition;

  beforeAll(async () => {
    db = await TestDb.create();
    table = `${db.name}.t`;
    await db.sql('CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(20))');
    from = await db.head();
    // Five transactions on one body: four repeats.
    for (let i = 1; i <= 5; i++) await db.sql(`INSERT INTO t VALUES (${i}, ${i * 10}, 'b${i}')`);
    // A column in the middle: every later value of a row image moves.
    await db.sql('ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7 AFTER a');
    await db.sql("INSERT INTO t VALUES (6, 60, 66, 'b6')");
    await db.sql('UPDATE t SET c = 8 WHERE id = 1');
    await db.sql("INSERT INTO t VALUES (7, 70, 77, 'b7')");
    // 300 utf8mb4 characters: the length prefix of `b` grows to 2 bytes.
    await db.sql('ALTER TABLE t MODIFY b VARCHAR(300)');
    await db.sql(`INSERT INTO t VALUES (8, 80, 88, '${'é'.repeat(200)}')`);
    await db.sql('DELETE FROM t WHERE id = 2');
    to = await db.head();
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  const expected = [
    { kind: 'insert', row: { id: 1, a: 10, b: 'b1' } },
    { kind: 'insert', row: { id: 2, a: 20, b: 'b2' } },
    { kind: 'insert', row: { id: 3, a: 30, b: 'b3' } },
    { kind: 'insert', row: { id: 4, a: 40, b: 'b4' } },
    { kind: 'insert', row: { id: 5, a: 50, b: 'b5' } },
    { kind: 'insert', row: { id: 6, a: 60, c: 66, b: 'b6' } },
    { kind: 'update', row: { id: 1, a: 10, c: 8, b: 'b1' } },
    { kind: 'insert', row: { id: 7, a: 70, c: 77, b: 'b7' } },
    { kind: 'insert', row: { id: 8, a: 80, c: 88, b: 'é'.repeat(200) } },
    { kind: 'delete', row: { id: 2, a: 20, c: 7, b: 'b2' } },
  ];

  it('every row decoded with its own columns, and the repeats dropped: 4 + 2 + 1', async () => {
    const before = tableMapRepeats();
    const rows = await read(table, from, to);
    expect(tableMapRepeats() - before).toBe(7);
    expect(rows).toEqual(expected);
  });

  it('the same with only `id` and `b` decoded (the decoding plan a repeat keeps)', async () => {
    const before = tableMapRepeats();
    const rows = await read(table, from, to, new Set(['id', 'b']));
    expect(tableMapRepeats() - before).toBe(7);
    expect(rows).toEqual(
      expected.map(({ kind, row }) => ({ kind, row: { id: row.id, b: row.b } })),
    );
  });
});
