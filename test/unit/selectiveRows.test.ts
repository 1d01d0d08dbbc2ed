import { describe, expect, it } from 'vitest';
import {
  decimalSize,
  decodeOnly,
  installed,
  Step,
  stepFor,
} from '../../src/pipeline/source/selectiveRows.js';
import { zongjiModule } from '../helpers/zongjiInternals.js';

// zongji's own rows-event classes and parser: the module patches their row reader in place.
type RowsEventClass = new (parser: unknown, options: object, zongji: object) => { rows: unknown[] };
const { WriteRows } = await zongjiModule<{ WriteRows: RowsEventClass }>('./lib/rows_event.js');
const { Parser } = await zongjiModule<{ Parser: new () => { append(b: Buffer): void } }>(
  './lib/reader.js',
);

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

  // Metadata at and past the edges a step can take: a length prefix is 1–4
  // bytes, a fixed size 1–255 (the plan stores sizes in a Uint8Array, so 256
  // would wrap to 0). Anything else is decoded and dropped, never stepped.
  it.each([
    ['TINYBLOB (length_size 1)', col(252, { length_size: 1 }), Step.Prefixed, 1],
    ['LONGBLOB (length_size 4)', col(252, { length_size: 4 }), Step.Prefixed, 4],
    ['JSON (length_size 4)', col(245, { length_size: 4 }), Step.Prefixed, 4],
    ['BLOB with length_size 0', col(252, { length_size: 0 }), Step.Drop, 0],
    ['BLOB with length_size 5', col(252, { length_size: 5 }), Step.Drop, 0],
    ['BLOB without length_size', col(252), Step.Drop, 0],
    ['GEOMETRY without length_size', col(255, {}), Step.Drop, 0],
    ['ENUM of 1 byte', col(247, { size: 1 }), Step.Fixed, 1],
    ['ENUM of 255 bytes (the largest fixed step)', col(247, { size: 255 }), Step.Fixed, 255],
    ['ENUM of 0 bytes', col(247, { size: 0 }), Step.Drop, 0],
    ['SET of 256 bytes (would wrap to 0 in the plan)', col(248, { size: 256 }), Step.Drop, 0],
    ['ENUM of a fractional size', col(247, { size: 1.5 }), Step.Drop, 0],
    ['ENUM without size', col(247), Step.Drop, 0],
    ['SET without size', col(248, {}), Step.Drop, 0],
    ['BIT(1)', col(16, { bits: 1 }), Step.Fixed, 1],
    ['BIT without bits', col(16), Step.Drop, 0],
    ['BIT(0)', col(16, { bits: 0 }), Step.Drop, 0],
    [
      'DECIMAL(5,5): scale equal to precision',
      col(246, { precision: 5, decimals: 5 }),
      Step.Fixed,
      3,
    ],
    ['DECIMAL(1,0)', col(246, { precision: 1, decimals: 0 }), Step.Fixed, 1],
    ['DECIMAL without precision', col(246, { decimals: 2 }), Step.Drop, 0],
    ['DECIMAL without scale', col(246, { precision: 5 }), Step.Drop, 0],
    [
      'DECIMAL(5,10): scale above precision',
      col(246, { precision: 5, decimals: 10 }),
      Step.Drop,
      0,
    ],
    ['DECIMAL(0,0): no bytes', col(246, { precision: 0, decimals: 0 }), Step.Drop, 0],
    ['VARCHAR without max_length', col(15), Step.Drop, 0],
    ['CHAR without max_length', col(254, {}), Step.Drop, 0],
  ])('%s', (_, column, step, size) => {
    expect(stepFor(column)).toEqual({ step, size });
  });
});

/** A column as zongji's TableMap builds it: 3 = INT, 8 = BIGINT, 15 = VARCHAR, 254 = CHAR. */
interface Column {
  readonly name: string;
  readonly type: 3 | 8 | 15 | 254;
  readonly metadata?: Record<string, number>;
}

type Value = number | string | null;

const int = (name: string, metadata?: Record<string, number>): Column => ({
  name,
  type: 3,
  ...(metadata ? { metadata } : {}),
});
const bigint = (name: string): Column => ({ name, type: 8 });
const varchar = (name: string, maxBytes: number): Column => ({
  name,
  type: 15,
  metadata: { max_length: maxBytes },
});
const char = (name: string, maxBytes: number): Column => ({
  name,
  type: 254,
  metadata: { max_length: maxBytes },
});

/**
 * What zongji's handler puts in `zongji.tableMap[tableId]` at a TableMap
 * event (self-describing path): a new object with new column objects, each
 * with a metadata object of its own (or none), every time.
 */
function tableEntry(columns: readonly Column[], tableName = 't'): object {
  return {
    parentSchema: 'db',
    tableName,
    columns: columns.map((c) => ({
      name: c.name,
      charset: 'latin1',
      type: c.type,
      metadata: c.metadata === undefined ? undefined : { ...c.metadata },
    })),
    columnSchemas: columns.map((c) =>
      c.type === 3 || c.type === 8
        ? { COLUMN_NAME: c.name, COLUMN_TYPE: c.type === 3 ? 'int' : 'bigint', UNSIGNED: false }
        : {
            COLUMN_NAME: c.name,
            COLUMN_TYPE: `${c.type === 15 ? 'varchar' : 'char'}(${c.metadata?.['max_length']})`,
          },
    ),
  };
}

/** One row image with every column present: the null bitmap, then each non-null value. */
function rowImage(columns: readonly Column[], values: readonly Value[]): Buffer {
  const nulls = Buffer.alloc((columns.length + 7) >> 3);
  const parts: Buffer[] = [nulls];
  columns.forEach((c, i) => {
    const v = values[i] ?? null;
    if (v === null) {
      nulls[i >> 3] = (nulls[i >> 3] as number) | (1 << (i & 7));
    } else if (c.type === 3) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(Number(v));
      parts.push(b);
    } else if (c.type === 8) {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v));
      parts.push(b);
    } else {
      const data = Buffer.from(String(v), 'latin1');
      const prefix = Buffer.alloc((c.metadata?.['max_length'] ?? 0) > 255 ? 2 : 1);
      prefix.writeUIntLE(data.length, 0, prefix.length);
      parts.push(prefix, data);
    }
  });
  return Buffer.concat(parts);
}

/** A WRITE_ROWS_EVENT_V2 body (no checksum): table id, flags, extra data, columns, bitmap, rows. */
function writeRowsEvent(
  tableId: number,
  columns: readonly Column[],
  rows: ReadonlyArray<readonly Value[]>,
): Buffer {
  const head = Buffer.alloc(10);
  head.writeUIntLE(tableId, 0, 6);
  head.writeUInt16LE(2, 8); // extra data length: just itself
  const present = Buffer.alloc((columns.length + 7) >> 3);
  for (let i = 0; i < columns.length; i++)
    present[i >> 3] = (present[i >> 3] as number) | (1 << (i & 7));
  return Buffer.concat([
    head,
    Buffer.from([columns.length]),
    present,
    ...rows.map((r) => rowImage(columns, r)),
  ]);
}

interface FakeZongji {
  readonly tableMap: Record<number, object>;
  readonly useChecksum: boolean;
}

/** A zongji that decodes only `wanted` of `db.t`. */
function zongjiWanting(...wanted: string[]): FakeZongji {
  const z: FakeZongji = { tableMap: {}, useChecksum: false };
  decodeOnly(z, new Map([['db.t', new Set(wanted)]]));
  return z;
}

/**
 * A TableMap event for `columns` under `tableId` (zongji builds a new entry),
 * then a WriteRows event of `rows`: the rows as zongji delivers them.
 */
function mapAndWrite(
  z: FakeZongji,
  tableId: number,
  columns: readonly Column[],
  rows: ReadonlyArray<readonly Value[]>,
  tableName = 't',
): unknown[] {
  z.tableMap[tableId] = tableEntry(columns, tableName);
  const body = writeRowsEvent(tableId, columns, rows);
  const parser = new Parser();
  parser.append(body);
  const options = { eventType: 0x1e, timestamp: 0, nextPosition: 0, size: body.length };
  return new WriteRows(parser, options, z).rows;
}

/** The decoding plan the patched reader cached on a table-map entry (white-box: its symbol). */
function planOn(entry: object | undefined): unknown {
  if (entry === undefined) return undefined;
  const key = Object.getOwnPropertySymbols(entry).find(
    (s) => s.description === 'sluice.decodePlan',
  );
  return key === undefined ? undefined : (entry as Record<symbol, unknown>)[key];
}

describe('selective decoding: the cached plan after a new TABLE_MAP', () => {
  it("is installed on zongji's row reader", () => {
    expect(installed).toBe(true);
  });

  const TABLE: readonly Column[] = [
    int('id'),
    varchar('note', 100),
    bigint('n'),
    varchar('tag', 80),
  ];

  it('the same columns under a new table id (new objects, equal metadata, INT without metadata) reuse the plan', () => {
    const z = zongjiWanting('id', 'tag');
    expect(mapAndWrite(z, 1, TABLE, [[1, 'n1', 10, 't1']])).toEqual([{ id: 1, tag: 't1' }]);
    const plan = planOn(z.tableMap[1]);
    expect(plan).toBeDefined();
    expect(mapAndWrite(z, 2, TABLE, [[2, 'n2', 20, 't2']])).toEqual([{ id: 2, tag: 't2' }]);
    expect(planOn(z.tableMap[2])).toBe(plan);
  });

  it('two tables of one schema each keep their own wanted columns', () => {
    const z: FakeZongji = { tableMap: {}, useChecksum: false };
    decodeOnly(
      z,
      new Map([
        ['db.t', new Set(['id'])],
        ['db.u', new Set(['tag'])],
      ]),
    );
    expect(mapAndWrite(z, 1, TABLE, [[1, 'n1', 10, 't1']])).toEqual([{ id: 1 }]);
    expect(mapAndWrite(z, 2, TABLE, [[2, 'n2', 20, 't2']], 'u')).toEqual([{ tag: 't2' }]);
  });

  /** Rows of `before` under table id 1, then rows of `after` under table id 2 (an ALTER). */
  function acrossAlter(
    wanted: readonly string[],
    before: readonly Column[],
    beforeRow: readonly Value[],
    after: readonly Column[],
    afterRow: readonly Value[],
  ): { rows: unknown[]; replanned: boolean } {
    const z = zongjiWanting(...wanted);
    const rows = [
      ...mapAndWrite(z, 1, before, [beforeRow]),
      ...mapAndWrite(z, 2, after, [afterRow]),
    ];
    return { rows, replanned: planOn(z.tableMap[2]) !== planOn(z.tableMap[1]) };
  }

  it('a VARCHAR widened past 255 bytes (its length prefix grows to 2 bytes): the next column still decodes exactly', () => {
    const widened = TABLE.map((c) => (c.name === 'note' ? varchar('note', 300) : c));
    const { rows, replanned } = acrossAlter(
      ['id', 'tag'],
      TABLE,
      [1, 'short', 10, 'before'],
      widened,
      [2, 'w'.repeat(280), 20, 'after'],
    );
    expect(rows).toEqual([
      { id: 1, tag: 'before' },
      { id: 2, tag: 'after' },
    ]);
    expect(replanned).toBe(true);
  });

  it('a wanted column added at the end is decoded', () => {
    const { rows, replanned } = acrossAlter(
      ['id', 'tag', 'extra'],
      TABLE,
      [1, 'n1', 10, 'before'],
      [...TABLE, varchar('extra', 20)],
      [2, 'n2', 20, 'after', 'x2'],
    );
    expect(rows).toEqual([
      { id: 1, tag: 'before' },
      { id: 2, tag: 'after', extra: 'x2' },
    ]);
    expect(replanned).toBe(true);
  });

  it('a column dropped at the end: the rows decode, no stale plan', () => {
    const { rows, replanned } = acrossAlter(
      ['id', 'tag'],
      [...TABLE, varchar('extra', 20)],
      [1, 'n1', 10, 'before', 'x1'],
      TABLE,
      [2, 'n2', 20, 'after'],
    );
    expect(rows).toEqual([
      { id: 1, tag: 'before' },
      { id: 2, tag: 'after' },
    ]);
    expect(replanned).toBe(true);
  });

  it('every column retyped under its name (INT to BIGINT, VARCHAR to CHAR of the same bytes)', () => {
    const { rows, replanned } = acrossAlter(
      ['tag'],
      [int('n'), varchar('tag', 80)],
      [1, 'before'],
      [bigint('n'), char('tag', 80)],
      [5_000_000_000, 'after'],
    );
    expect(rows).toEqual([{ tag: 'before' }, { tag: 'after' }]);
    expect(replanned).toBe(true);
  });

  it('every column renamed (two names swapped): the wanted name follows its column', () => {
    const { rows, replanned } = acrossAlter(
      ['a'],
      [int('a'), int('b')],
      [1, 2],
      [int('b'), int('a')],
      [4, 3],
    );
    expect(rows).toEqual([{ a: 1 }, { a: 3 }]);
    expect(replanned).toBe(true);
  });

  // Column lists zongji itself does not build today (same name and type, but
  // metadata present on one side only, or with a key on one side only), as
  // another zongji path or version might: a change, never a crash.
  it.each([
    ['metadata only in the old list', int('n', { size: 4 }), int('n')],
    ['metadata only in the new list', int('n'), int('n', { size: 4 })],
    ['a metadata key only in the old list', int('n', { size: 4, x: 1 }), int('n', { size: 4 })],
    ['a metadata key only in the new list', int('n', { size: 4 }), int('n', { size: 4, x: 1 })],
  ])('%s is a change: a new plan', (_, old, now) => {
    const { rows, replanned } = acrossAlter(
      ['id'],
      [int('id'), old],
      [1, 10],
      [int('id'), now],
      [2, 20],
    );
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect(replanned).toBe(true);
  });
});
