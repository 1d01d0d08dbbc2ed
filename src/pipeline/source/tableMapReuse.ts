/**
 * Parse a repeated TABLE_MAP event once.
 *
 * The server writes a TABLE_MAP event before the row events of every table
 * in every transaction, and with `binlog_row_metadata=FULL` each one carries
 * the column names, charsets and signedness. zongji parses all of it again
 * each time (`_readOptionalMetadata`) and then builds INFORMATION_SCHEMA-
 * shaped column rows from it (`buildColumnSchemas`): under small, steady
 * transactions that is about a tenth of the daemon's CPU (docs/benchmarks.md,
 * issue 15), for a table that has not changed.
 *
 * A TABLE_MAP event's body (table id, names, column types, metadata, the
 * optional metadata block; everything but the common header and checksum)
 * fully determines what zongji parses from it. This module remembers, per
 * table id, the last body and what its optional metadata parse set on the
 * event; an event whose body is byte-for-byte the same gets those values
 * instead of a parse, and the column rows built for the first one. Any
 * difference in any byte (an ALTER, a new charset, another table under a
 * reused id) parses in full and replaces the entry. What the parse sets is
 * recorded generically (the event's own properties it added or changed), so
 * a zongji that parses more fields stays exact.
 *
 * A repeat goes further. Once a body's event has been delivered and zongji
 * built the table's entry from it (`zongji.tableMap[tableId]`: its column
 * rows and `columns`, on the self-describing path), a later event with the
 * same body under the same id, while that very entry is still in place,
 * would only rebuild the same entry. Such an event is dropped the way zongji
 * drops a TableMap of an unwatched table (`_filtered`), except that the
 * entry stays: the row events after it find the entry (and the decoding
 * plan selectiveRows cached on it) that the first event left. Under a stream
 * of small transactions this is nearly every TABLE_MAP event; it skips the
 * column parse, the handler's rebuild and a new decoding plan per table and
 * transaction (docs/benchmarks.md, issue 15, seventh sitting). An entry
 * built any other way (the INFORMATION_SCHEMA path) never counts as a
 * repeat's.
 *
 * Like selectiveRows.ts it patches zongji's TableMap class, reached by file
 * URL next to its entry point, and acts only on a ZongJi instance that opted
 * in (`reuseTableMaps`); when zongji's layout changes, `installed` is false
 * and every event is parsed in full (correct, only slower).
 */
import { zongjiModule } from './zongjiInternals.js';

/** What the patch needs from zongji's parser (lib/reader.js). */
interface ZongjiParser {
  readonly _buffer: Buffer;
  _offset: number;
  readonly _packetEnd: number;
}

interface ZongjiInstance {
  readonly useChecksum?: boolean;
  readonly tableMap?: Record<number, object>;
  _skipSchema?: (database: string, table: string) => boolean;
  [CACHE]?: TableMapCache;
  /** The repeat being constructed (set at its table id, read by `_skipSchema`). */
  [REPEAT]?: TableMapThis | undefined;
}

interface TableMapThis {
  readonly tableId: number;
  /** zongji's table map (the constructor sets it before reading the table id). */
  tableMap: Record<number, object>;
  [START]?: number;
  [ENTRY]?: Entry;
}

interface Entry {
  /** A copy of the body the values were parsed from. */
  readonly body: Buffer;
  /** The event properties the optional-metadata parse set, by name. */
  readonly parsed: ReadonlyArray<readonly [string, unknown]>;
  /** The column rows zongji built from this body (null until built once). */
  schemas: unknown;
  /**
   * The `zongji.tableMap` entry zongji built from this body with these
   * column rows, once an event of it was delivered; undefined until then.
   */
  mapEntry: object | undefined;
}

/** Entries per table id; cleared when it outgrows MAX_TABLES (ids change with ALTER and FLUSH). */
type TableMapCache = Map<number, Entry>;

/** More distinct table ids than this (a long run with many ALTERs): start the cache over. */
export const MAX_TABLES = 4096;

const CACHE = Symbol('sluice.tableMapCache');
const START = Symbol('sluice.tableMapStart');
const ENTRY = Symbol('sluice.tableMapEntry');
const REPEAT = Symbol('sluice.tableMapRepeat');

/** Repeats dropped so far in this process (tests read it: the fast path must engage). */
let repeats = 0;

/** How many TABLE_MAP events this process dropped as repeats so far. */
export function tableMapRepeats(): number {
  return repeats;
}

/** Each opted-in zongji by its table map (what a TableMap event holds when it reads its id). */
const owners = new WeakMap<object, ZongjiInstance & { [CACHE]: TableMapCache }>();

/**
 * Where a repeat's `delete tableMap[tableId]` (zongji's filter path) lands:
 * a frozen empty object, so that nothing is deleted (or added) anywhere.
 */
const NO_TABLE_MAP: Record<number, object> = Object.freeze(Object.create(null) as object) as Record<
  number,
  object
>;

type ReadTableId = (this: TableMapThis, parser: ZongjiParser) => void;
type ReadOptional = (this: TableMapThis, parser: ZongjiParser, zongji: ZongjiInstance) => void;
type BuildSchemas = (this: TableMapThis) => unknown;
type UpdateColumnInfo = (this: TableMapThis) => void;

export interface TableMapPrototype {
  _readTableId?: ReadTableId;
  _readOptionalMetadata?: ReadOptional;
  buildColumnSchemas?: BuildSchemas;
  updateColumnInfo?: UpdateColumnInfo;
}

/** The event's own properties after a parse that differ from `before` (added or replaced). */
function changedProperties(
  event: object,
  before: ReadonlyMap<string, unknown>,
): Array<readonly [string, unknown]> {
  const out: Array<readonly [string, unknown]> = [];
  for (const [name, value] of Object.entries(event)) {
    if (!before.has(name) || before.get(name) !== value) out.push([name, value]);
  }
  return out;
}

/**
 * Wraps the methods of zongji's TableMap prototype in place; false (and
 * nothing changed) when one of them is missing (another zongji layout).
 * Exported for the unit test.
 */
export function patchTableMap(proto: TableMapPrototype | undefined): boolean {
  if (proto === undefined) return false;
  const readTableId = proto._readTableId;
  const readOptional = proto._readOptionalMetadata;
  const buildSchemas = proto.buildColumnSchemas;
  const updateColumnInfo = proto.updateColumnInfo;
  if (
    typeof readTableId !== 'function' ||
    typeof readOptional !== 'function' ||
    typeof buildSchemas !== 'function' ||
    typeof updateColumnInfo !== 'function'
  ) {
    return false;
  }
  // The body starts with the table id, the first thing the constructor reads.
  proto._readTableId = function (this: TableMapThis, parser: ZongjiParser): void {
    const start = parser._offset;
    this[START] = start;
    readTableId.call(this, parser);
    const zongji = owners.get(this.tableMap);
    if (zongji === undefined) return;
    zongji[REPEAT] = repeatOf(this, zongji, parser, start);
  };

  proto._readOptionalMetadata = function (
    this: TableMapThis,
    parser: ZongjiParser,
    zongji: ZongjiInstance,
  ): void {
    const cache = zongji[CACHE];
    const start = this[START];
    if (cache === undefined || start === undefined) {
      readOptional.call(this, parser, zongji);
      return;
    }
    const end = bodyEnd(parser, zongji);
    const body = parser._buffer.subarray(start, end);
    const known = cache.get(this.tableId);
    if (known !== undefined && known.body.equals(body)) {
      const target = this as unknown as Record<string, unknown>;
      for (const [name, value] of known.parsed) target[name] = value;
      parser._offset = end;
      this[ENTRY] = known;
      return;
    }
    const before = new Map<string, unknown>(Object.entries(this));
    // A malformed block throws: zongji's constructor catches it and drops
    // the optional metadata; nothing is remembered for such a body.
    readOptional.call(this, parser, zongji);
    if (cache.size >= MAX_TABLES) cache.clear();
    const fresh: Entry = {
      body: Buffer.from(body),
      parsed: changedProperties(this, before),
      schemas: null,
      mapEntry: undefined,
    };
    cache.set(this.tableId, fresh);
    this[ENTRY] = fresh;
  };

  // zongji builds the column rows from the parsed values at every TableMap
  // event; the same body gives the same rows (zongji only ever sets
  // `UNSIGNED` on them again, to the value the body gives).
  proto.buildColumnSchemas = function (this: TableMapThis): unknown {
    const known = this[ENTRY];
    if (known === undefined) return buildSchemas.call(this);
    known.schemas ??= buildSchemas.call(this);
    return known.schemas;
  };

  // zongji's handler calls this once it has set the table's entry. Only an
  // entry holding this body's own cached column rows (the self-describing
  // path) is one a repeat may keep; the INFORMATION_SCHEMA path's rows come
  // from a query and never match.
  proto.updateColumnInfo = function (this: TableMapThis): void {
    updateColumnInfo.call(this);
    const known = this[ENTRY];
    if (known === undefined || known.schemas === null) return;
    const entry = this.tableMap[this.tableId] as { columnSchemas?: unknown } | undefined;
    if (entry !== undefined && entry.columnSchemas === known.schemas) known.mapEntry = entry;
  };
  return true;
}

/** Where the event's body ends: the packet's end, before the checksum if the stream has them. */
function bodyEnd(parser: ZongjiParser, zongji: ZongjiInstance): number {
  return parser._packetEnd - (zongji.useChecksum === true ? 4 : 0);
}

/**
 * Whether the event reading its table id is a repeat: its body is its id's
 * last one, byte for byte, and zongji's entry for the id is still the one
 * built from that body. A repeat's filter writes go nowhere (NO_TABLE_MAP).
 */
function repeatOf(
  event: TableMapThis,
  zongji: ZongjiInstance & { [CACHE]: TableMapCache },
  parser: ZongjiParser,
  start: number,
): TableMapThis | undefined {
  const known = zongji[CACHE].get(event.tableId);
  if (known?.mapEntry === undefined) return undefined;
  if (event.tableMap[event.tableId] !== known.mapEntry) return undefined;
  if (known.body.compare(parser._buffer, start, bodyEnd(parser, zongji)) !== 0) return undefined;
  event.tableMap = NO_TABLE_MAP;
  repeats++;
  return event;
}

async function install(): Promise<boolean> {
  try {
    const events =
      await zongjiModule<Record<string, { prototype: TableMapPrototype } | undefined>>(
        './lib/binlog_event.js',
      );
    return patchTableMap(events['TableMap']?.prototype);
  } catch {
    return false;
  }
}

/** True when zongji's TableMap parse is wrapped (see the module comment). */
export const installed: boolean = await install();

/**
 * Turns reuse on for one ZongJi instance (call before `start()`); other
 * instances parse in full. Its `_skipSchema` (zongji's table filter, which
 * the TableMap constructor asks right after the names) drops a repeat: the
 * constructor then skips the rest of the body and marks the event filtered.
 * A table the filter itself skips is dropped as zongji would, its entry
 * deleted from the real table map.
 */
export function reuseTableMaps(zongji: object): void {
  const z = zongji as ZongjiInstance & { [CACHE]: TableMapCache };
  z[CACHE] = new Map();
  const tableMap = z.tableMap;
  const skipSchema = z._skipSchema;
  // Another layout (no table map, no filter method): the metadata reuse only.
  if (tableMap === undefined || typeof skipSchema !== 'function') return;
  owners.set(tableMap, z);
  z._skipSchema = function (this: ZongjiInstance, database: string, table: string): boolean {
    const repeat = this[REPEAT];
    this[REPEAT] = undefined;
    const skipped = skipSchema.call(this, database, table);
    if (repeat === undefined) return skipped;
    // Filtered after all (another filter than the entry's): zongji's own
    // drop, from the real table map.
    if (skipped) repeat.tableMap = tableMap;
    return true;
  };
}
