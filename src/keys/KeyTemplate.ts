import { SluiceError } from '../errors/index.js';
import { escapeGlob } from './glob.js';
import type { ColumnValue, Row } from './values.js';

const COLUMN_RE = /^[A-Za-z0-9_$]+$/;

/**
 * A key template such as `user:{id}` or `chat:{chat_id}:messages`.
 * Placeholders name columns; `{{` and `}}` are literal braces, so a Redis
 * Cluster hash tag can be written `user:{{{id}}}` → `user:{42}`.
 *
 * This is the only place a data key string is built: the daemon's mapper
 * and the cache module render keys through it, so they cannot disagree.
 */
export class KeyTemplate {
  /** The template text as written in the configuration. */
  readonly source: string;
  /** The placeholder columns, in order of appearance (may repeat). */
  readonly columns: readonly string[];
  /** Literal text around placeholders: `literals.length === columns.length + 1`. */
  private readonly literals: readonly string[];

  private constructor(source: string, literals: string[], columns: string[]) {
    this.source = source;
    this.literals = Object.freeze(literals);
    this.columns = Object.freeze(columns);
  }

  /** Parses a template; throws E_TEMPLATE_SYNTAX naming `field` and the offending offset. */
  static parse(source: string, field = 'template'): KeyTemplate {
    const literals: string[] = [];
    const columns: string[] = [];
    let text = '';
    const fail = (at: number, why: string): never => {
      throw new SluiceError(
        'E_TEMPLATE_SYNTAX',
        `${field}: ${why} at offset ${at} in "${source}"`,
        {
          details: { field, template: source, offset: at },
        },
      );
    };
    if (source.length === 0) fail(0, 'empty template');
    for (let i = 0; i < source.length; i++) {
      const ch = source[i];
      if (ch === '{') {
        if (source[i + 1] === '{') {
          text += '{';
          i++;
          continue;
        }
        const end = source.indexOf('}', i + 1);
        if (end < 0) fail(i, 'unclosed "{"');
        const name = source.slice(i + 1, end);
        if (name.includes('{')) fail(i, 'unclosed "{"');
        if (!COLUMN_RE.test(name)) {
          fail(i, name === '' ? 'empty placeholder "{}"' : `invalid column name "${name}"`);
        }
        literals.push(text);
        columns.push(name);
        text = '';
        i = end;
      } else if (ch === '}') {
        if (source[i + 1] === '}') {
          text += '}';
          i++;
          continue;
        }
        fail(i, 'unbalanced "}" (write "}}" for a literal brace)');
      } else {
        text += ch;
      }
    }
    literals.push(text);
    return new KeyTemplate(source, literals, columns);
  }

  /**
   * Renders the key for one row image, or null when a placeholder column is
   * NULL (or absent): such a row feeds no key under this template.
   */
  render(row: Row): string | null {
    const { literals, columns } = this;
    let key = literals[0] ?? '';
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i] as string;
      // Own properties only: a column named like an Object.prototype member
      // (`constructor`) that the row lacks must read as absent, not inherited.
      const v = Object.hasOwn(row, column) ? renderValue(row[column]) : null;
      if (v === null) return null;
      key += v + (literals[i + 1] ?? '');
    }
    return key;
  }

  /**
   * True when both row images hold the same primitive values in this
   * template's columns, so they render the same key (objects such as Dates
   * and Buffers compare by identity: false, and the caller renders both).
   */
  sameColumns(a: Row, b: Row): boolean {
    for (const column of this.columns) if (a[column] !== b[column]) return false;
    return true;
  }

  /**
   * The Redis glob that matches every key this template can produce:
   * placeholders become `*`, glob characters in the literal text are escaped,
   * so a flush never widens beyond the template's own key space.
   */
  pattern(): string {
    return this.literals.map(escapeGlob).join('*');
  }

  /**
   * The inverse of `render` for keys this template produced: the placeholder
   * values as text, or null when `key` does not fit. With adjacent
   * placeholders or separators inside values the split is ambiguous; the
   * first (leftmost-shortest) reading is returned.
   */
  match(key: string): Record<string, string> | null {
    this.matcher ??= new RegExp(
      '^' +
        this.literals.map((l) => l.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('([\\s\\S]*?)') +
        '$',
    );
    const m = this.matcher.exec(key);
    if (m === null) return null;
    const out: Record<string, string> = {};
    this.columns.forEach((c, i) => {
      out[c] = m[i + 1] ?? '';
    });
    return out;
  }

  private matcher: RegExp | undefined;

  toString(): string {
    return this.source;
  }
}

/**
 * Renders one column value as key text: integers in decimal (exact beyond
 * 2^53: the source hands those over as strings or bigints), strings as-is,
 * binary as lowercase hex, dates as ISO-8601 UTC, booleans as 1/0.
 * Returns null for SQL NULL.
 */
export function renderValue(value: ColumnValue): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? String(value) : null;
    case 'bigint':
      return value.toString(10);
    case 'boolean':
      return value ? '1' : '0';
    default:
      break;
  }
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.join(',');
  return JSON.stringify(value);
}
