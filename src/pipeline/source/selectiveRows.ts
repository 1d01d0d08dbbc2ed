/**
 * Decode only the columns the key templates read.
 *
 * zongji decodes every column of every row image into a JavaScript value (a
 * `Date` per DATETIME, a string per VARCHAR, …) although Sluice only reads the
 * columns its templates name: for the replay benchmark's five-column table,
 * value decoding is about half of the daemon's CPU per row. This module
 * replaces zongji's per-row reader (`_fetchOneRow` of its rows event classes)
 * with one that decodes the wanted columns with zongji's own `readMysqlValue`
 * (so their values are exactly what zongji gives) and steps over the others
 * by their encoded size, which the binlog fixes by type and table-map
 * metadata. Types whose size is not plain (MariaDB compressed columns, the
 * pre-5.6 temporal formats, anything unknown) are decoded and dropped:
 * slower, never misaligned.
 *
 * It only acts on a ZongJi instance that carries a column plan
 * (`decodeOnly`); every other instance, and every table without a plan,
 * decodes in full as before. zongji does not export these classes, so they
 * are reached by file URL next to its entry point (the same module instance
 * zongji itself uses); when its layout changes, `installed` is false, the
 * source logs it, and decoding stays complete (correct, only slower).
 */
import { zongjiModule } from './zongjiInternals.js';

/** What the patched reader needs from zongji's parser (lib/reader.js). */
interface ZongjiParser {
  _buffer: Buffer;
  _offset: number;
  _packetEnd: number;
  parseBuffer(length: number): Buffer;
  parseUnsignedNumber(bytes: number): number;
}

interface ZongjiColumn {
  readonly name: string;
  readonly type: number;
  readonly metadata?: Readonly<Record<string, number>>;
}

interface ZongjiTableMap {
  readonly parentSchema: string;
  readonly tableName: string;
  readonly columns: readonly ZongjiColumn[];
  readonly columnSchemas: readonly unknown[];
  [PLAN]?: Plan | null;
}

interface ZongjiRowsEventThis {
  readonly tableId: number;
  readonly tableMap: Record<number, ZongjiTableMap>;
  readonly columns_present_bitmap: Buffer;
  readonly columns_present_bitmap2?: Buffer;
  readonly _zongji: { [PLANS]?: PlanCache };
  /** Null-bitmap sizes, the same for every row of the event: computed once. */
  [NULL_BYTES]?: number;
  [NULL_BYTES_2]?: number;
}

type FetchOneRow = (this: ZongjiRowsEventThis, parser: ZongjiParser) => unknown;
type ReadMysqlValue = (
  parser: ZongjiParser,
  column: ZongjiColumn,
  columnSchema: unknown,
  tableMap: ZongjiTableMap,
  zongji: unknown,
) => unknown;

const PLANS = Symbol('sluice.decodePlans');
const PLAN = Symbol('sluice.decodePlan');
const NULL_BYTES = Symbol('sluice.nullBytes');
const NULL_BYTES_2 = Symbol('sluice.nullBytes2');

/** How to pass over one column's value. */
export const Step = {
  /** Decode it with zongji's readMysqlValue and keep it. */
  Keep: 0,
  /** Not wanted, size known: advance by `size` bytes. */
  Fixed: 1,
  /** Not wanted: a little-endian length of `size` bytes, then that many bytes. */
  Prefixed: 2,
  /** Not wanted, size not plain: decode it and drop the value. */
  Drop: 3,
} as const;
type Step = (typeof Step)[keyof typeof Step];

interface Plan {
  readonly steps: Uint8Array;
  readonly sizes: Uint8Array;
  /** The column list the plan was made for. */
  readonly columns: readonly ZongjiColumn[];
}

/** Per schema, per table: the wanted columns and the last plan made for them. */
type PlanCache = Map<string, Map<string, { wanted: ReadonlySet<string>; plan: Plan | null }>>;

// Type codes, from zongji's lib/common.js (MysqlTypes); stable binlog constants.
const T = {
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  YEAR: 13,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const DECIMAL_BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

/** The encoded size of a NEWDECIMAL(precision, scale) value (MySQL's decimal_bin_size). */
export function decimalSize(precision: number, scale: number): number {
  const integral = precision - scale;
  const whole = (n: number): number => Math.floor(n / 9) * 4 + (DECIMAL_BYTES[n % 9] ?? 0);
  return whole(integral) + whole(scale);
}

/** How to step over a column that is not wanted (exported for the unit test). */
export function stepFor(column: ZongjiColumn): { step: Step; size: number } {
  const m = column.metadata ?? {};
  const frac = (m['decimals'] ?? 0) + 1;
  switch (column.type) {
    case T.TINY:
    case T.YEAR:
      return { step: Step.Fixed, size: 1 };
    case T.SHORT:
      return { step: Step.Fixed, size: 2 };
    case T.INT24:
    case T.DATE:
      return { step: Step.Fixed, size: 3 };
    case T.LONG:
    case T.FLOAT:
      return { step: Step.Fixed, size: 4 };
    case T.LONGLONG:
    case T.DOUBLE:
      return { step: Step.Fixed, size: 8 };
    case T.TIMESTAMP2:
      return { step: Step.Fixed, size: 4 + (frac >> 1) };
    case T.DATETIME2:
      return { step: Step.Fixed, size: 5 + (frac >> 1) };
    case T.TIME2:
      return { step: Step.Fixed, size: 3 + (frac >> 1) };
    case T.NEWDECIMAL: {
      const precision = m['precision'];
      const scale = m['decimals'];
      return precision === undefined || scale === undefined || scale > precision
        ? { step: Step.Drop, size: 0 }
        : fixed(decimalSize(precision, scale));
    }
    case T.BIT:
      return fixed(Math.floor(((m['bits'] ?? -1) + 7) / 8));
    case T.ENUM:
    case T.SET:
      return fixed(m['size'] ?? -1);
    case T.VARCHAR:
    case T.STRING:
      return m['max_length'] === undefined
        ? { step: Step.Drop, size: 0 }
        : { step: Step.Prefixed, size: m['max_length'] > 255 ? 2 : 1 };
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
    case T.JSON:
    case T.GEOMETRY: {
      const lengthSize = m['length_size'];
      return lengthSize !== undefined && lengthSize >= 1 && lengthSize <= 4
        ? { step: Step.Prefixed, size: lengthSize }
        : { step: Step.Drop, size: 0 };
    }
    default:
      return { step: Step.Drop, size: 0 };
  }
}

function fixed(size: number): { step: Step; size: number } {
  return Number.isInteger(size) && size >= 1 && size <= 255
    ? { step: Step.Fixed, size }
    : { step: Step.Drop, size: 0 };
}

function planFor(table: ZongjiTableMap, wanted: ReadonlySet<string>): Plan {
  const n = table.columns.length;
  const steps = new Uint8Array(n);
  const sizes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const column = table.columns[i] as ZongjiColumn;
    if (wanted.has(column.name)) continue; // Step.Keep
    const { step, size } = stepFor(column);
    steps[i] = step;
    sizes[i] = size;
  }
  return { steps, sizes, columns: table.columns };
}

/** Bytes of a row's null bitmap: one bit per column present in the image. */
function nullBitmapBytes(present: Buffer): number {
  let bits = 0;
  for (let i = 0; i < present.length; i++) {
    let b = present[i] as number;
    while (b !== 0) {
      b &= b - 1;
      bits++;
    }
  }
  return (bits + 7) >> 3;
}

/**
 * zongji's readRow (lib/rows_event.js) with the plan applied: the same null
 * bitmap walk; wanted columns decoded by readMysqlValue, the others skipped.
 * The row holds the wanted columns only.
 */
function readRow(
  read: ReadMysqlValue,
  parser: ZongjiParser,
  table: ZongjiTableMap,
  plan: Plan,
  present: Buffer,
  nullBytes: number,
  zongji: unknown,
): Record<string, unknown> {
  const buffer = parser._buffer;
  const nulls = parser._offset;
  parser._offset = nulls + nullBytes;
  const row: Record<string, unknown> = {};
  const { steps, sizes } = plan;
  const columns = table.columns;
  for (let i = 0, nullBit = 0; i < columns.length; i++) {
    const step = steps[i];
    if (((present[i >> 3] as number) & (1 << (i & 7))) === 0) {
      if (step === Step.Keep) row[(columns[i] as ZongjiColumn).name] = null;
      continue;
    }
    const isNull = ((buffer[nulls + (nullBit >> 3)] as number) & (1 << (nullBit & 7))) !== 0;
    nullBit++;
    if (step === Step.Keep) {
      const column = columns[i] as ZongjiColumn;
      row[column.name] = isNull
        ? null
        : read(parser, column, table.columnSchemas[i], table, zongji);
    } else if (isNull) {
      continue;
    } else if (step === Step.Fixed) {
      parser._offset += sizes[i] as number;
    } else if (step === Step.Prefixed) {
      const lengthSize = sizes[i] as number;
      const offset = parser._offset;
      parser._offset = offset + lengthSize + buffer.readUIntLE(offset, lengthSize);
    } else {
      read(parser, columns[i] as ZongjiColumn, table.columnSchemas[i], table, zongji);
    }
  }
  return row;
}

/** The plan of this event's table, or null for "decode in full". */
function planOf(event: ZongjiRowsEventThis): Plan | null {
  const table = event.tableMap[event.tableId];
  if (table === undefined) return null;
  const cached = table[PLAN];
  if (cached !== undefined) return cached;
  // zongji builds a new table-map object at every TableMap event (once per
  // transaction and table), so the plan is cached per table as well and
  // reused while the column list is the same; a changed table gets a new one.
  const byTable = event._zongji[PLANS]?.get(table.parentSchema);
  const entry = byTable?.get(table.tableName);
  let plan: Plan | null = null;
  if (entry !== undefined && Array.isArray(table.columns)) {
    if (entry.plan !== null && sameColumns(entry.plan.columns, table.columns)) plan = entry.plan;
    else entry.plan = plan = planFor(table, entry.wanted);
  }
  table[PLAN] = plan;
  return plan;
}

function sameColumns(a: readonly ZongjiColumn[], b: readonly ZongjiColumn[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ZongjiColumn;
    const y = b[i] as ZongjiColumn;
    if (x.name !== y.name || x.type !== y.type) return false;
    const mx = x.metadata;
    const my = y.metadata;
    if (mx === my) continue;
    if (mx === undefined || my === undefined) return false;
    for (const k in mx) if (mx[k] !== my[k]) return false;
    for (const k in my) if (mx[k] !== my[k]) return false;
  }
  return true;
}

async function install(): Promise<boolean> {
  try {
    const rows =
      await zongjiModule<Record<string, { prototype: { _fetchOneRow?: FetchOneRow } } | undefined>>(
        './lib/rows_event.js',
      );
    const common = await zongjiModule<{ readMysqlValue?: ReadMysqlValue }>('./lib/common.js');
    const read = common.readMysqlValue;
    const insert = rows['WriteRows']?.prototype;
    const update = rows['UpdateRows']?.prototype;
    const remove = rows['DeleteRows']?.prototype;
    if (typeof read !== 'function' || !insert || !update || !remove) return false;
    const base = Object.getPrototypeOf(insert) as { _fetchOneRow?: FetchOneRow };
    const single = base._fetchOneRow;
    const pair = update._fetchOneRow;
    if (
      typeof single !== 'function' ||
      typeof pair !== 'function' ||
      remove._fetchOneRow !== single ||
      pair === single
    ) {
      return false;
    }
    base._fetchOneRow = function (this: ZongjiRowsEventThis, parser: ZongjiParser): unknown {
      const plan = planOf(this);
      if (plan === null) return single.call(this, parser);
      const table = this.tableMap[this.tableId] as ZongjiTableMap;
      const present = this.columns_present_bitmap;
      this[NULL_BYTES] ??= nullBitmapBytes(present);
      return readRow(read, parser, table, plan, present, this[NULL_BYTES], this._zongji);
    };
    update._fetchOneRow = function (this: ZongjiRowsEventThis, parser: ZongjiParser): unknown {
      const plan = planOf(this);
      if (plan === null) return pair.call(this, parser);
      const table = this.tableMap[this.tableId] as ZongjiTableMap;
      const present = this.columns_present_bitmap;
      const present2 = this.columns_present_bitmap2 ?? present;
      this[NULL_BYTES] ??= nullBitmapBytes(present);
      this[NULL_BYTES_2] ??= nullBitmapBytes(present2);
      const z = this._zongji;
      const before = readRow(read, parser, table, plan, present, this[NULL_BYTES], z);
      const after = readRow(read, parser, table, plan, present2, this[NULL_BYTES_2], z);
      return { before, after };
    };
    return true;
  } catch {
    return false;
  }
}

/** True when zongji's row reader is replaced (see the module comment). */
export const installed: boolean = await install();

/**
 * Restricts decoding on one ZongJi instance: for each `db.table` in
 * `columns`, rows carry only those columns (absent ones are not decoded).
 * Tables not in the map decode in full. Call before `start()`.
 */
export function decodeOnly(
  zongji: object,
  columns: ReadonlyMap<string, ReadonlySet<string>>,
): void {
  const plans: PlanCache = new Map();
  for (const [name, wanted] of columns) {
    const dot = name.indexOf('.');
    const schema = name.slice(0, dot);
    let byTable = plans.get(schema);
    if (byTable === undefined) {
      byTable = new Map<string, { wanted: ReadonlySet<string>; plan: Plan | null }>();
      plans.set(schema, byTable);
    }
    byTable.set(name.slice(dot + 1), { wanted, plan: null });
  }
  (zongji as { [PLANS]?: PlanCache })[PLANS] = plans;
}
