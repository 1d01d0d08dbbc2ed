import { describe, expect, it } from 'vitest';
import {
  installed,
  MAX_TABLES,
  patchTableMap,
  reuseTableMaps,
  type TableMapPrototype,
} from '../../src/pipeline/source/tableMapReuse.js';
import { zongjiModule } from '../helpers/zongjiInternals.js';

// zongji's own TableMap class and parser: the patch wraps them in place.
const { TableMap } = await zongjiModule<{
  TableMap: new (parser: unknown, options: object, zongji: object) => TableMapEvent;
}>('./lib/binlog_event.js');
const { Parser } = await zongjiModule<{
  Parser: new () => { append(b: Buffer): void; _offset: number };
}>('./lib/reader.js');

interface TableMapEvent {
  tableId: number;
  schemaName: string;
  tableName: string;
  _filtered?: boolean;
  updateColumnInfo(): void;
  columnNames?: string[];
  signedness?: boolean[];
  columnTypes: number[];
  columnsMetadata: unknown[];
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
  checksum: number | null = 0xdeadbeef,
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
  if (checksum === null) return Buffer.from(bytes);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(checksum);
  return Buffer.concat([Buffer.from(bytes), crc]);
}

interface FakeZongji {
  readonly tableMap: Record<number, { columns?: unknown; columnSchemas?: unknown }>;
  readonly useChecksum: boolean;
  /** Tables the filter drops (zongji's excludeSchema), by `schema.table`. */
  readonly excluded: Set<string>;
  _skipSchema(database: string, table: string): boolean;
}

function fakeZongji(reuse: boolean, useChecksum = true): FakeZongji {
  const z: FakeZongji = {
    tableMap: {},
    useChecksum,
    excluded: new Set(),
    _skipSchema(database, table) {
      return this.excluded.has(`${database}.${table}`);
    },
  };
  if (reuse) reuseTableMaps(z);
  return z;
}

/**
 * What zongji's binlog handler does with a TableMap event carrying full
 * metadata (index.js, the self-describing path): a filtered event is
 * dropped; otherwise the table's entry is built anew and its columns set.
 */
function deliver(event: TableMapEvent, zongji: FakeZongji): void {
  if (event._filtered === true) return;
  zongji.tableMap[event.tableId] = {
    columnSchemas: event.buildColumnSchemas(),
    parentSchema: event.schemaName,
    tableName: event.tableName,
  } as never;
  event.updateColumnInfo();
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

/** USERS with the event's last byte changed (without a checksum: the last letter of the last column name). */
const LAST_BYTE_CHANGED: readonly Column[] = [
  USERS[0] as Column,
  { name: 'emaix', type: 15, maxBytes: 1020 },
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
    // The second event reuses the first one's rows (not built again)…
    expect(second.buildColumnSchemas()).toBe(rows);
    // …and only what the optional metadata gave: the arrays the rest of the
    // parse made (zongji's updateColumnInfo rewrites them) stay its own.
    expect(second.columnTypes).toEqual(first.columnTypes);
    expect(second.columnTypes).not.toBe(first.columnTypes);
    expect(second.columnsMetadata).not.toBe(first.columnsMetadata);
  });

  it('without checksums the body runs to the packet end: a changed last byte parses in full', () => {
    const reusing = fakeZongji(true, false);
    parse(tableMapEvent(71, 'users', USERS, null), reusing);
    const last = parse(tableMapEvent(71, 'users', LAST_BYTE_CHANGED, null), reusing);
    expect(last.columnNames).toEqual(['id', 'emaix']);
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
    // Table 71's entry is still there beside 72's.
    expect(parse(tableMapEvent(71, 'users', USERS), reusing).buildColumnSchemas()).toBe(
      a.buildColumnSchemas(),
    );
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

  it('patches nothing when zongji lacks a method it wraps (another layout: full parse)', () => {
    expect(patchTableMap(undefined)).toBe(false);
    const readTableId = (): void => undefined;
    const readOptional = (): void => undefined;
    for (const missing of [
      '_readTableId',
      '_readOptionalMetadata',
      'buildColumnSchemas',
      'updateColumnInfo',
    ]) {
      const proto: TableMapPrototype = {
        _readTableId: readTableId,
        _readOptionalMetadata: readOptional,
        buildColumnSchemas: () => [],
        updateColumnInfo: () => undefined,
      };
      delete (proto as Record<string, unknown>)[missing];
      const before = { ...proto };
      expect(patchTableMap(proto)).toBe(false);
      expect(proto).toEqual(before);
    }
  });

  describe('a repeat: the same body while the entry built from it is in place', () => {
    it('is dropped as filtered, and the table keeps the entry (columns, column rows) the first one built', () => {
      const z = fakeZongji(true);
      const first = parse(tableMapEvent(71, 'users', USERS, 1), z);
      deliver(first, z);
      const entry = z.tableMap[71];
      const columns = entry?.columns;
      expect(columns).toEqual([
        expect.objectContaining({ name: 'id', type: 3 }),
        expect.objectContaining({ name: 'email', type: 15 }),
      ]);
      const again = parse(tableMapEvent(71, 'users', USERS, 2), z); // only the checksum differs
      expect(again._filtered).toBe(true);
      expect(again.tableId).toBe(71);
      expect(again.tableName).toBe('users');
      deliver(again, z);
      expect(z.tableMap[71]).toBe(entry);
      expect(z.tableMap[71]?.columns).toBe(columns);
      // And the one after it, the same.
      expect(parse(tableMapEvent(71, 'users', USERS, 3), z)._filtered).toBe(true);
      expect(z.tableMap[71]).toBe(entry);
      // The repeat was its own event's answer only: asked again, the filter answers.
      expect(z._skipSchema('db', 'users')).toBe(false);
    });

    it('a zongji that did not opt in rebuilds the entry at every event', () => {
      const z = fakeZongji(false);
      deliver(parse(tableMapEvent(71, 'users', USERS), z), z);
      const entry = z.tableMap[71];
      const again = parse(tableMapEvent(71, 'users', USERS), z);
      expect(again._filtered).toBeUndefined();
      deliver(again, z);
      expect(z.tableMap[71]).not.toBe(entry);
    });

    it('is not one before the first event was delivered (no entry built from the body yet)', () => {
      const z = fakeZongji(true);
      parse(tableMapEvent(71, 'users', USERS), z); // parsed, never handed to the handler
      const second = parse(tableMapEvent(71, 'users', USERS), z);
      expect(second._filtered).toBeUndefined();
      expect(second.columnNames).toEqual(['id', 'email']);
    });

    it('is not one once the entry was replaced or deleted (another path built it, a filtered table took the id)', () => {
      const z = fakeZongji(true);
      deliver(parse(tableMapEvent(71, 'users', USERS), z), z);
      // The INFORMATION_SCHEMA path: column rows of its own.
      z.tableMap[71] = { columnSchemas: [{ COLUMN_NAME: 'id' }, { COLUMN_NAME: 'email' }] };
      const afterReplace = parse(tableMapEvent(71, 'users', USERS), z);
      expect(afterReplace._filtered).toBeUndefined();
      deliver(afterReplace, z);
      expect(parse(tableMapEvent(71, 'users', USERS), z)._filtered).toBe(true);
      delete z.tableMap[71];
      const afterDelete = parse(tableMapEvent(71, 'users', USERS), z);
      expect(afterDelete._filtered).toBeUndefined();
      expect(afterDelete.columnNames).toEqual(['id', 'email']);
    });

    it('an entry the INFORMATION_SCHEMA path built is never kept by a repeat', () => {
      const z = fakeZongji(true);
      const first = parse(tableMapEvent(71, 'users', USERS), z);
      first.buildColumnSchemas(); // cached, but the entry holds rows of its own
      z.tableMap[71] = { columnSchemas: [{ COLUMN_NAME: 'id' }, { COLUMN_NAME: 'email' }] };
      first.updateColumnInfo();
      expect(parse(tableMapEvent(71, 'users', USERS), z)._filtered).toBeUndefined();
    });

    it('a changed byte is parsed in full and becomes the entry a later repeat keeps', () => {
      const z = fakeZongji(true);
      deliver(parse(tableMapEvent(71, 'users', USERS), z), z);
      const altered: readonly Column[] = [
        USERS[0] as Column,
        { name: 'email', type: 15, maxBytes: 1024 },
      ];
      const changed = parse(tableMapEvent(71, 'users', altered), z);
      expect(changed._filtered).toBeUndefined();
      deliver(changed, z);
      const entry = z.tableMap[71];
      expect(parse(tableMapEvent(71, 'users', altered), z)._filtered).toBe(true);
      expect(z.tableMap[71]).toBe(entry);
      // The old body again: not the entry's, parsed in full.
      expect(parse(tableMapEvent(71, 'users', USERS), z)._filtered).toBeUndefined();
    });

    it('a table the filter drops is dropped as zongji drops it: its entry deleted', () => {
      const z = fakeZongji(true);
      deliver(parse(tableMapEvent(71, 'users', USERS), z), z);
      z.excluded.add('db.users');
      const dropped = parse(tableMapEvent(71, 'users', USERS), z);
      expect(dropped._filtered).toBe(true);
      expect(z.tableMap[71]).toBeUndefined();
    });

    it('without checksums the body runs to the packet end: a changed last byte is not a repeat', () => {
      const z = fakeZongji(true, false);
      deliver(parse(tableMapEvent(71, 'users', USERS, null), z), z);
      expect(parse(tableMapEvent(71, 'users', USERS, null), z)._filtered).toBe(true);
      const last = parse(tableMapEvent(71, 'users', LAST_BYTE_CHANGED, null), z);
      expect(last._filtered).toBeUndefined();
      expect(last.columnNames).toEqual(['id', 'emaix']);
    });

    it('a zongji without a table map or without the filter method is left as it is (its filter not wrapped)', () => {
      const noFilter = { tableMap: {}, useChecksum: true };
      expect(() => reuseTableMaps(noFilter)).not.toThrow();
      expect(noFilter).not.toHaveProperty('_skipSchema');
      const filter = (): boolean => false;
      const noMap = { useChecksum: true, _skipSchema: filter };
      expect(() => reuseTableMaps(noMap)).not.toThrow();
      expect(noMap._skipSchema).toBe(filter);
    });

    it('each table id keeps its own entry', () => {
      const z = fakeZongji(true);
      deliver(parse(tableMapEvent(71, 'users', USERS), z), z);
      deliver(parse(tableMapEvent(72, 'users', USERS), z), z);
      const [a, b] = [z.tableMap[71], z.tableMap[72]];
      expect(a).not.toBe(b);
      expect(parse(tableMapEvent(72, 'users', USERS), z)._filtered).toBe(true);
      expect(parse(tableMapEvent(71, 'users', USERS), z)._filtered).toBe(true);
      expect([z.tableMap[71], z.tableMap[72]]).toEqual([a, b]);
      expect(z.tableMap[71]).toBe(a);
    });
  });

  describe('on a stand-in TableMap class (what a future zongji may do)', () => {
    /** A TableMap-like prototype whose metadata parse counts its calls and sets `kind` and `names`. */
    function standIn(): { proto: TableMapPrototype; parses: () => number } {
      let parses = 0;
      const proto: TableMapPrototype = {
        _readTableId(this: { tableId: number }, parser: { _offset: number }) {
          this.tableId = 7;
          parser._offset += 6;
        },
        _readOptionalMetadata(this: object, parser: { _offset: number; _packetEnd: number }) {
          parses++;
          const self = this as Record<string, unknown>;
          self['kind'] = 'parsed'; // replaces a value the constructor set
          self['names'] = ['a'];
          parser._offset = parser._packetEnd;
        },
        buildColumnSchemas: () => [],
        updateColumnInfo: () => undefined,
      };
      expect(patchTableMap(proto)).toBe(true);
      return { proto, parses: () => parses };
    }
    const body = Buffer.from('0123456789');
    const reader = () => ({ _buffer: body, _offset: 0, _packetEnd: body.length });
    const event = (proto: TableMapPrototype, zongji: object, readId = true) => {
      const e = Object.create(proto) as Record<string, unknown> & {
        _readTableId(p: unknown): void;
        _readOptionalMetadata(p: unknown, z: object): void;
      };
      e['kind'] = 'initial';
      const parser = reader();
      if (readId) e._readTableId(parser);
      e._readOptionalMetadata(parser, zongji);
      return e;
    };

    it('a property the parse replaced (not only added) is replayed on a reused event', () => {
      const { proto, parses } = standIn();
      const zongji = { useChecksum: false };
      reuseTableMaps(zongji);
      event(proto, zongji);
      const second = event(proto, zongji);
      expect(parses()).toBe(1);
      expect(second['kind']).toBe('parsed');
      expect(second['names']).toEqual(['a']);
    });

    it('an event whose table id was not read through the patch is parsed in full', () => {
      const { proto, parses } = standIn();
      const zongji = { useChecksum: false };
      reuseTableMaps(zongji);
      event(proto, zongji, false);
      event(proto, zongji, false);
      expect(parses()).toBe(2);
    });
  });
});
