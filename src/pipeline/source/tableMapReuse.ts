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
 * Like selectiveRows.ts it patches zongji's TableMap class, reached by file
 * URL next to its entry point, and acts only on a ZongJi instance that opted
 * in (`reuseTableMaps`); when zongji's layout changes, `installed` is false
 * and every event is parsed in full (correct, only slower).
 */

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** What the patch needs from zongji's parser (lib/reader.js). */
interface ZongjiParser {
  readonly _buffer: Buffer;
  _offset: number;
  readonly _packetEnd: number;
}

interface ZongjiInstance {
  readonly useChecksum?: boolean;
  [CACHE]?: TableMapCache;
}

interface TableMapThis {
  readonly tableId: number;
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
}

/** Entries per table id; cleared when it outgrows MAX_TABLES (ids change with ALTER and FLUSH). */
type TableMapCache = Map<number, Entry>;

/** More distinct table ids than this (a long run with many ALTERs): start the cache over. */
export const MAX_TABLES = 4096;

const CACHE = Symbol('sluice.tableMapCache');
const START = Symbol('sluice.tableMapStart');
const ENTRY = Symbol('sluice.tableMapEntry');

type ReadTableId = (this: TableMapThis, parser: ZongjiParser) => void;
type ReadOptional = (this: TableMapThis, parser: ZongjiParser, zongji: ZongjiInstance) => void;
type BuildSchemas = (this: TableMapThis) => unknown;

export interface TableMapPrototype {
  _readTableId?: ReadTableId;
  _readOptionalMetadata?: ReadOptional;
  buildColumnSchemas?: BuildSchemas;
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
  if (
    typeof readTableId !== 'function' ||
    typeof readOptional !== 'function' ||
    typeof buildSchemas !== 'function'
  ) {
    return false;
  }
  // The body starts with the table id, the first thing the constructor reads.
  proto._readTableId = function (this: TableMapThis, parser: ZongjiParser): void {
    this[START] = parser._offset;
    readTableId.call(this, parser);
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
    const end = parser._packetEnd - (zongji.useChecksum === true ? 4 : 0);
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
  return true;
}

async function install(): Promise<boolean> {
  try {
    const entry = pathToFileURL(createRequire(import.meta.url).resolve('@vlasky/zongji'));
    const events = (await import(new URL('./lib/binlog_event.js', entry).href)) as Record<
      string,
      { prototype: TableMapPrototype } | undefined
    >;
    return patchTableMap(events['TableMap']?.prototype);
  } catch {
    return false;
  }
}

/** True when zongji's TableMap parse is wrapped (see the module comment). */
export const installed: boolean = await install();

/** Turns reuse on for one ZongJi instance (call before `start()`); other instances parse in full. */
export function reuseTableMaps(zongji: object): void {
  (zongji as ZongjiInstance)[CACHE] = new Map();
}
