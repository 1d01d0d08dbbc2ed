import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { installed, MAX_TABLES, reuseTableMaps } from '../../src/pipeline/source/tableMapReuse.js';

// zongji's own TableMap class and parser: the patch wraps them in place.
const entry = pathToFileURL(createRequire(import.meta.url).resolve('@vlasky/zongji'));
const { TableMap } = (await import(new URL('./lib/binlog_event.js', entry).href)) as {
  TableMap: new (parser: unknown, options: object, zongji: object) => TableMapEvent;
};
const { Parser } = (await import(new URL('./lib/reader.js', entry).href)) as {
  Parser: new () => { append(b: Buffer): void; _offset: number };
};

interface TableMapEvent {
  tableId: number;
  columnNames?: string[];
  signedness?: boolean[];
  buildColumnSchemas(): Array<Record<string, unknown>>;
  [k: string]: unknown;
}

interface Column {
  readonly name: string;
  /** 3 = LONG (INT), 15 = VARCHAR. */
  readonly type: 3 | 15;
  readonly unsigned?: boolean;
  readonly maxBytes?: number;
}

const lenenc = (n: number): number[] => {
  if (n >= 251) throw new Error('test helper: short values only');
  return [n];
};

/**
 * A TABLE_MAP event as the server writes it with binlog_row_metadata=FULL:
 * the body (table id … optional metadata), then a 4-byte checksum.
 */
function tableMapEvent(
  tableId: number,
  table: string,
  columns: readonly Column[],
  checksum = 0xdeadbeef,
): Buffer {
  const bytes: number[] = [];
  const id = Buffer.alloc(6);
  id.writeUIntLE(tableId, 0, 6);
  bytes.push(...id, 1, 0); // table id, flags
  bytes.push(2, ...Buffer.from('db'), 0);
  bytes.push(table.length, ...Buffer.from(table), 0);
  bytes.push(...lenenc(columns.length), ...columns.map((c) => c.type));
  const meta: number[] = [];
  for (const c of columns)
    if (c.type === 15) meta.push((c.maxBytes ?? 0) & 0xff, (c.maxBytes ?? 0) >> 8);
  bytes.push(...lenenc(meta.length), ...meta);
  bytes.push(...Buffer.alloc((columns.length + 7) >> 3, 0xff)); // nullability
  // SIGNEDNESS over the numeric columns (MSB first), DEFAULT_CHARSET, COLUMN_NAME.
  const numeric = columns.filter((c) => c.type === 3);
  const sign = Buffer.alloc((numeric.length + 7) >> 3);
  numeric.forEach((c, i) => {
    if (c.unsigned === true) sign[i >> 3] = (sign[i >> 3] as number) | (0x80 >> (i % 8));
  });
  bytes.push(1, ...lenenc(sign.length), ...sign);
  bytes.push(2, 1, 45); // utf8mb4_general_ci
  const names = columns.flatMap((c) => [...lenenc(c.name.length), ...Buffer.from(c.name)]);
  bytes.push(4, ...lenenc(names.length), ...names);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(checksum);
  return Buffer.concat([Buffer.from(bytes), crc]);
}

function fakeZongji(reuse: boolean): object {
  const z = { tableMap: {}, useChecksum: true, _skipSchema: () => false };
  if (reuse) reuseTableMaps(z);
  return z;
}

function parse(buffer: Buffer, zongji: object): TableMapEvent {
  const parser = new Parser();
  parser.append(buffer);
  return new TableMap(parser, { timestamp: 0, nextPosition: 0, size: buffer.length }, zongji);
}

/** The event's own fields, the way a consumer sees them (the patch's symbols aside). */
const fieldsOf = (e: TableMapEvent): Record<string, unknown> =>
  Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'tableMap'));

const USERS: readonly Column[] = [
  { name: 'id', type: 3, unsigned: true },
  { name: 'email', type: 15, maxBytes: 1020 },
];

describe('TABLE_MAP reuse', () => {
  it('is installed on the zongji the project pins', () => {
    expect(installed).toBe(true);
  });

  it('a repeated body gives exactly what a full parse gives, and the same column rows', () => {
    const plain = fakeZongji(false);
    const reusing = fakeZongji(true);
    const first = parse(tableMapEvent(71, 'users', USERS, 1), reusing);
    const second = parse(tableMapEvent(71, 'users', USERS, 2), reusing); // only the checksum differs
    const reference = parse(tableMapEvent(71, 'users', USERS, 2), plain);
    expect(fieldsOf(second)).toEqual(fieldsOf(reference));
    expect(second.columnNames).toEqual(['id', 'email']);
    expect(second.signedness).toEqual([true, undefined]);
    const rows = first.buildColumnSchemas();
    expect(rows).toEqual(reference.buildColumnSchemas());
    expect(rows[1]).toMatchObject({ COLUMN_NAME: 'email', COLUMN_TYPE: 'varchar(255)' });
    // The second event reuses the first one's rows (not built again).
    expect(second.buildColumnSchemas()).toBe(rows);
  });

  it('any changed byte under the same table id is parsed in full (a renamed column, a sign flip)', () => {
    const reusing = fakeZongji(true);
    parse(tableMapEvent(71, 'users', USERS), reusing);
    const renamed = parse(
      tableMapEvent(71, 'users', [USERS[0] as Column, { name: 'mail', type: 15, maxBytes: 1020 }]),
      reusing,
    );
    expect(renamed.columnNames).toEqual(['id', 'mail']);
    expect(renamed.buildColumnSchemas()[1]).toMatchObject({ COLUMN_NAME: 'mail' });
    const signed = parse(
      tableMapEvent(71, 'users', [{ name: 'id', type: 3 }, USERS[1] as Column]),
      reusing,
    );
    expect(signed.signedness).toEqual([false, undefined]);
    expect(signed.buildColumnSchemas()[0]).toMatchObject({ COLUMN_TYPE: 'int', UNSIGNED: false });
  });

  it('another table id with the same body is its own entry', () => {
    const reusing = fakeZongji(true);
    const a = parse(tableMapEvent(71, 'users', USERS), reusing);
    const b = parse(tableMapEvent(72, 'users', USERS), reusing);
    expect(b.tableId).toBe(72);
    expect(b.buildColumnSchemas()).not.toBe(a.buildColumnSchemas());
    expect(b.buildColumnSchemas()).toEqual(a.buildColumnSchemas());
  });

  it('a zongji that did not opt in parses every event (its rows are built each time)', () => {
    const plain = fakeZongji(false);
    const a = parse(tableMapEvent(71, 'users', USERS), plain);
    const b = parse(tableMapEvent(71, 'users', USERS), plain);
    expect(b.buildColumnSchemas()).not.toBe(a.buildColumnSchemas());
  });

  it('the cache starts over past MAX_TABLES ids instead of growing without bound', () => {
    const reusing = fakeZongji(true);
    const first = parse(tableMapEvent(1, 'users', USERS), reusing);
    const rows = first.buildColumnSchemas();
    expect(parse(tableMapEvent(1, 'users', USERS), reusing).buildColumnSchemas()).toBe(rows);
    for (let id = 2; id <= MAX_TABLES + 1; id++) parse(tableMapEvent(id, 'users', USERS), reusing);
    // Table 1's entry went with the clear: a fresh parse, fresh rows.
    expect(parse(tableMapEvent(1, 'users', USERS), reusing).buildColumnSchemas()).not.toBe(rows);
  });
});
