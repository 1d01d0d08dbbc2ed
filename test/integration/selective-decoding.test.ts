import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installed } from '../../src/pipeline/source/selectiveRows.js';
import type { BinlogPosition } from '../../src/pipeline/position.js';
import type { Row } from '../../src/pipeline/change/RowChange.js';
import { readRange } from '../helpers/binlogRange.js';
import { TestDb } from '../helpers/db.js';

/**
 * The source decodes only the template columns and steps over the others by
 * their encoded size. A wrong size misaligns every later value of the row
 * image, so: one table with every column type MariaDB writes to a row image,
 * random values and NULLs, inserts, updates and deletes; the same binlog
 * range is read in full and with three column plans, and each kept column
 * must equal its fully decoded value.
 */
const COLUMNS: ReadonlyArray<readonly [name: string, type: string, value: (i: number) => string]> =
  [
    ['c_tiny', 'TINYINT', (i) => `${(i % 256) - 128}`],
    ['c_utiny', 'TINYINT UNSIGNED', (i) => `${(i * 7) % 256}`],
    ['c_small', 'SMALLINT', (i) => `${i * 131 - 30000}`],
    ['c_medium', 'MEDIUMINT UNSIGNED', (i) => `${i * 65537}`],
    ['c_int', 'INT', (i) => `${-i * 1_000_003}`],
    ['c_big', 'BIGINT', (i) => `${-BigInt(i) * 9_007_199_254_740_993n}`],
    ['c_ubig', 'BIGINT UNSIGNED', (i) => `${18446744073709551615n - BigInt(i)}`],
    ['c_float', 'FLOAT', (i) => `${i}.5`],
    ['c_double', 'DOUBLE', (i) => `${i}.125e10`],
    ['c_dec1', 'DECIMAL(5,2)', (i) => `${-(i % 999)}.25`],
    ['c_dec2', 'DECIMAL(20,10)', (i) => `${i}1234567.0123456789`],
    ['c_dec3', 'DECIMAL(65,30)', (i) => `-${i}${'9'.repeat(30)}.${'1'.repeat(30)}`],
    ['c_dec4', 'DECIMAL(9,0)', (i) => `${i * 1001}`],
    ['c_date', 'DATE', (i) => `'20${10 + (i % 80)}-0${1 + (i % 9)}-1${i % 10}'`],
    ['c_time', 'TIME', (i) => `'-${100 + i}:1${i % 6}:2${i % 10}'`],
    ['c_time3', 'TIME(3)', (i) => `'1${i % 10}:00:01.${100 + i}'`],
    ['c_time6', 'TIME(6)', (i) => `'-00:00:0${i % 10}.${100000 + i}'`],
    ['c_dt', 'DATETIME', (i) => `'2024-02-29 1${i % 10}:59:59'`],
    ['c_dt3', 'DATETIME(3)', (i) => `'1999-12-31 23:59:59.${100 + i}'`],
    ['c_dt6', 'DATETIME(6)', (i) => `'2038-01-19 03:14:0${i % 10}.${100000 + i}'`],
    ['c_ts', 'TIMESTAMP NULL DEFAULT NULL', (i) => `'2001-09-09 01:46:4${i % 10}'`],
    [
      'c_ts6',
      'TIMESTAMP(6) NULL DEFAULT NULL',
      (i) => `'2020-01-01 00:00:0${i % 10}.${100000 + i}'`,
    ],
    ['c_year', 'YEAR', (i) => `${1901 + i}`],
    ['c_char', 'CHAR(10)', (i) => `'c${i}'`],
    ['c_char_wide', 'CHAR(100)', (i) => `'wide ✓ ${'é'.repeat(i % 90)}'`],
    ['c_varchar', 'VARCHAR(10)', (i) => `'v${i}'`],
    // utf8mb4: 4 bytes a character, so 256 bytes: the first length with a 2-byte prefix.
    ['c_varchar_256', 'VARCHAR(64)', (i) => `'${'ß'.repeat(i % 64)}'`],
    ['c_varchar_wide', 'VARCHAR(300)', (i) => `'${'😀'.repeat(i % 300)}'`],
    ['c_binary', 'BINARY(4)', (i) => `UNHEX('${(i % 256).toString(16).padStart(2, '0')}00')`],
    [
      'c_varbinary',
      'VARBINARY(20)',
      (i) => `UNHEX('00ff${(i % 256).toString(16).padStart(2, '0')}')`,
    ],
    ['c_tinytext', 'TINYTEXT', (i) => `'tt${i}'`],
    ['c_text', 'TEXT', (i) => `REPEAT('t', ${i * 37})`],
    ['c_mediumtext', 'MEDIUMTEXT', (i) => `REPEAT('m', ${70_000 + i})`],
    ['c_longblob', 'LONGBLOB', (i) => `REPEAT(UNHEX('00'), ${i * 3})`],
    ['c_enum', "ENUM('a','b','c')", (i) => `'${'abc'[i % 3]}'`],
    ['c_set', "SET('x','y','z')", (i) => `'${['x', 'x,y', 'z', ''][i % 4]}'`],
    [
      'c_set_big',
      `SET(${Array.from({ length: 64 }, (_, k) => `'s${k}'`).join(',')})`,
      (i) => `'s0,s${i % 64},s63'`,
    ],
    ['c_bit1', 'BIT(1)', (i) => `b'${i % 2}'`],
    ['c_bit17', 'BIT(17)', (i) => `${(i * 4099) % 131072}`],
    ['c_json', 'JSON', (i) => `'{"n": ${i}, "a": [1, "two", null]}'`],
    ['c_point', 'POINT', (i) => `ST_PointFromText('POINT(${i} ${-i})')`],
    ['c_uuid', 'UUID', (i) => `'${i.toString(16).padStart(8, '0')}-0000-4000-8000-00000000abcd'`],
    ['c_inet6', 'INET6', (i) => `'2001:db8::${i.toString(16)}'`],
    ['c_inet4', 'INET4', (i) => `'10.0.${i % 256}.1'`],
    ['c_vc_comp', 'VARCHAR(200) COMPRESSED', (i) => `REPEAT('q', ${i % 200})`],
    ['c_blob_comp', 'BLOB COMPRESSED', (i) => `REPEAT('b', ${i * 11})`],
    ['tail', 'VARCHAR(20)', (i) => `'tail-${i}'`],
  ];

const ROWS = 60;

/** Deterministic: about one value in five is NULL (never in `id`). */
function isNull(row: number, column: number): boolean {
  return (row * 31 + column * 17) % 5 === 0;
}

function values(i: number, salt = 0): string {
  return COLUMNS.map(([, , value], c) => (isNull(i + salt, c) ? 'NULL' : value(i + salt))).join(
    ', ',
  );
}

/** Every row image of the range, in order, as the source delivers it. */
async function read(
  db: TestDb,
  from: BinlogPosition,
  to: BinlogPosition,
  columns?: ReadonlySet<string>,
): Promise<Row[]> {
  const images: Row[] = [];
  for (const change of await readRange(`${db.name}.wide`, from, to, columns)) {
    if (change.kind !== 'insert') images.push(change.before);
    if (change.kind !== 'delete') images.push(change.after);
  }
  return images;
}

function pick(row: Row, names: ReadonlySet<string>): Row {
  return Object.fromEntries(Object.entries(row).filter(([k]) => names.has(k)));
}

describe('selective row decoding', () => {
  let db: TestDb;
  let from: BinlogPosition;
  let to: BinlogPosition;
  let full: Row[];

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql(
      `CREATE TABLE wide (id INT NOT NULL PRIMARY KEY, ${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')}) ENGINE=InnoDB`,
    );
    from = await db.head();
    const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
    await db.sql(`INSERT INTO wide VALUES ${ids.map((i) => `(${i}, ${values(i)})`).join(', ')}`);
    // Updates that change values, NULL them and un-NULL them.
    for (const i of ids.filter((x) => x % 3 === 0)) {
      const set = COLUMNS.map(
        ([n, , value], c) => `${n} = ${isNull(i, c) ? value(i + 1) : 'NULL'}`,
      );
      await db.sql(`UPDATE wide SET ${set.join(', ')} WHERE id = ${i}`);
    }
    await db.sql(`UPDATE wide SET tail = CONCAT(tail, '+'), c_int = c_int + 1 WHERE id % 3 = 1`);
    await db.sql('DELETE FROM wide WHERE id % 4 = 0');
    to = await db.head();
    full = await read(db, from, to);
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  it("replaces zongji's row reader (a zongji upgrade that breaks this fails here)", () => {
    expect(installed).toBe(true);
  });

  it('the full read sees every image with every column', () => {
    // 60 inserts, 20 + 20 updates (two images each), 15 deletes.
    expect(full).toHaveLength(60 + 2 * 40 + 15);
    for (const row of full) expect(Object.keys(row)).toHaveLength(COLUMNS.length + 1);
    // Some values of each column are NULL, some are not: both paths are exercised.
    for (const [name] of COLUMNS) {
      expect(full.some((r) => r[name] === null)).toBe(true);
      expect(full.some((r) => r[name] !== null && r[name] !== undefined)).toBe(true);
    }
  });

  const names = ['id', ...COLUMNS.map(([n]) => n)];
  const plans: ReadonlyArray<readonly [string, ReadonlySet<string>]> = [
    ['only the first and the last column', new Set(['id', 'tail'])],
    ['every odd column', new Set(names.filter((_, i) => i % 2 === 1))],
    ['every even column', new Set(names.filter((_, i) => i % 2 === 0))],
    ['only the last column', new Set(['tail'])],
  ];

  it.each(plans)('%s: exactly the wanted columns, equal to the full decode', async (_, wanted) => {
    const images = await read(db, from, to, wanted);
    expect(images).toHaveLength(full.length);
    images.forEach((row, i) => {
      expect(Object.keys(row).sort()).toEqual([...wanted].sort());
      expect(row).toEqual(pick(full[i] as Row, wanted));
    });
  });
});

/**
 * The plan for a table is cached and reused while a new TABLE_MAP (after an
 * ALTER, or under a new table id) has the same columns; any change in a
 * name, a type or its metadata makes a new one. Against the server: rows
 * before and after each ALTER, read in one pass, every image exactly what
 * the full decode gives for the wanted columns. A stale plan steps over the
 * altered table with the old sizes: a misaligned (wrong) value, or a wanted
 * column missing.
 */
interface AlterCase {
  readonly table: string;
  readonly create: string;
  /** Statements after the CREATE: rows, an ALTER, rows. */
  readonly statements: readonly string[];
  readonly wanted: ReadonlySet<string>;
  /** Every row image, in order, with only the wanted columns. */
  readonly images: readonly Row[];
}

const ALTERS: readonly AlterCase[] = [
  {
    // A VARCHAR of 100 latin1 bytes to 300: its length prefix grows from 1 to
    // 2 bytes, under the same name and type; the value after it is wanted.
    // Every column has metadata (no INT), so only that metadata tells the
    // two column lists apart.
    table: 'sel_widened',
    create: 'note VARCHAR(100) CHARACTER SET latin1, tag VARCHAR(20)',
    statements: [
      "INSERT INTO sel_widened VALUES (REPEAT('a', 100), 'before')",
      'ALTER TABLE sel_widened MODIFY note VARCHAR(300) CHARACTER SET latin1',
      "INSERT INTO sel_widened VALUES (REPEAT('b', 280), 'after')",
    ],
    wanted: new Set(['tag']),
    images: [{ tag: 'before' }, { tag: 'after' }],
  },
  {
    // A column added at the end, which the templates want.
    table: 'sel_added',
    create: 'id INT NOT NULL PRIMARY KEY, note VARCHAR(20), tag VARCHAR(20)',
    statements: [
      "INSERT INTO sel_added VALUES (1, 'n1', 'before')",
      'ALTER TABLE sel_added ADD COLUMN extra VARCHAR(20)',
      "INSERT INTO sel_added VALUES (2, 'n2', 'after', 'x2')",
    ],
    wanted: new Set(['id', 'tag', 'extra']),
    images: [
      { id: 1, tag: 'before' },
      { id: 2, tag: 'after', extra: 'x2' },
    ],
  },
  {
    // Every column's type changed under its name: INT to BIGINT (4 to 8
    // bytes), VARCHAR(20) to CHAR(20) (the same 80-byte metadata).
    table: 'sel_retyped',
    create: 'n INT NOT NULL, tag VARCHAR(20) NOT NULL',
    statements: [
      "INSERT INTO sel_retyped VALUES (1, 'before')",
      'ALTER TABLE sel_retyped MODIFY n BIGINT NOT NULL, MODIFY tag CHAR(20) NOT NULL',
      "INSERT INTO sel_retyped VALUES (5000000000, 'after')",
    ],
    wanted: new Set(['tag']),
    images: [{ tag: 'before' }, { tag: 'after' }],
  },
  {
    // Every column renamed: two names swapped, the same types.
    table: 'sel_swapped',
    create: 'a VARCHAR(20), b VARCHAR(20)',
    statements: [
      "INSERT INTO sel_swapped (a, b) VALUES ('a1', 'b1')",
      'ALTER TABLE sel_swapped CHANGE a b VARCHAR(20), CHANGE b a VARCHAR(20)',
      "INSERT INTO sel_swapped (a, b) VALUES ('a2', 'b2')",
    ],
    wanted: new Set(['a']),
    images: [{ a: 'a1' }, { a: 'a2' }],
  },
  {
    // An index added: a new table id, the same columns (a plan reused across it must still fit).
    table: 'sel_reindexed',
    create: 'id INT NOT NULL PRIMARY KEY, note VARCHAR(20), tag VARCHAR(20)',
    statements: [
      "INSERT INTO sel_reindexed VALUES (1, 'n1', 'before')",
      'ALTER TABLE sel_reindexed ADD INDEX by_tag (tag)',
      "INSERT INTO sel_reindexed VALUES (2, 'n2', 'after')",
    ],
    wanted: new Set(['id', 'tag']),
    images: [
      { id: 1, tag: 'before' },
      { id: 2, tag: 'after' },
    ],
  },
];

describe('selective row decoding across ALTER TABLE', () => {
  let db: TestDb;
  const ranges = new Map<string, { from: BinlogPosition; to: BinlogPosition }>();

  beforeAll(async () => {
    db = await TestDb.create();
    for (const c of ALTERS) {
      await db.sql(`CREATE TABLE ${c.table} (${c.create}) ENGINE=InnoDB`);
      const from = await db.head();
      for (const statement of c.statements) await db.sql(statement);
      ranges.set(c.table, { from, to: await db.head() });
    }
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  /** The after images of `table`'s inserts, in order. */
  async function inserted(table: string, columns?: ReadonlySet<string>): Promise<Row[]> {
    const range = ranges.get(table);
    if (range === undefined) throw new Error(`no range for ${table}`);
    const changes = await readRange(`${db.name}.${table}`, range.from, range.to, columns);
    return changes.map((change) => {
      if (change.kind !== 'insert') throw new Error(`unexpected ${change.kind} in ${table}`);
      return change.after;
    });
  }

  it.each(ALTERS.map((c) => [c.table, c] as const))(
    '%s: the rows before and after the ALTER carry exactly the wanted values',
    async (table, c) => {
      const selective = await inserted(table, c.wanted);
      expect(selective).toEqual(c.images);
      // The same as the full decode gives for those columns.
      const full = await inserted(table);
      expect(full.map((row) => pick(row, c.wanted))).toEqual(c.images);
    },
  );
});

/**
 * With binlog_row_image=MINIMAL, an image carries only some columns (an
 * update's before image the primary key, its after image the changed
 * columns): the others are not in the event at all. A wanted column that is
 * absent reads as null (as zongji's full decode gives it), an unwanted one
 * is not in the row, and an update's two images each follow their own
 * columns-present bitmap.
 */
describe('selective row decoding of partial row images (binlog_row_image=MINIMAL)', () => {
  let db: TestDb;
  let from: BinlogPosition;
  let to: BinlogPosition;
  const wanted = new Set(['id', 'tag']);

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql(
      'CREATE TABLE sel_minimal (id INT NOT NULL PRIMARY KEY, a INT, note VARCHAR(20), tag VARCHAR(20)) ENGINE=InnoDB',
    );
    const session = await db.session();
    try {
      await session.query("SET SESSION binlog_row_image = 'MINIMAL'");
      from = await db.head();
      await session.query(
        "INSERT INTO sel_minimal VALUES (1, 10, 'n1', 't1'), (2, 20, 'n2', 't2')",
      );
      await session.query("UPDATE sel_minimal SET tag = 't1+' WHERE id = 1");
      await session.query("UPDATE sel_minimal SET note = 'n2+', a = NULL WHERE id = 2");
      await session.query('DELETE FROM sel_minimal WHERE id = 1');
      to = await db.head();
    } finally {
      await session.end();
    }
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  async function images(columns?: ReadonlySet<string>): Promise<Array<[string, Row]>> {
    const out: Array<[string, Row]> = [];
    for (const change of await readRange(`${db.name}.sel_minimal`, from, to, columns)) {
      if (change.kind !== 'insert') out.push([`${change.kind} before`, change.before]);
      if (change.kind !== 'delete') out.push([`${change.kind} after`, change.after]);
    }
    return out;
  }

  it('each image has exactly the wanted columns, absent ones null, as the full decode gives them', async () => {
    const selective = await images(wanted);
    expect(selective).toEqual([
      ['insert after', { id: 1, tag: 't1' }],
      ['insert after', { id: 2, tag: 't2' }],
      ['update before', { id: 1, tag: null }],
      ['update after', { id: null, tag: 't1+' }],
      ['update before', { id: 2, tag: null }],
      ['update after', { id: null, tag: null }],
      ['delete before', { id: 1, tag: null }],
    ]);
    const full = await images();
    expect(full.map(([kind, row]) => [kind, pick(row, wanted)])).toEqual(selective);
  });
});
