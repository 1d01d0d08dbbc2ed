import type { ApiResourceConfig } from '../config/schema.js';
import type { ColumnKind } from '../db/columnKinds.js';
import { SluiceError } from '../errors/index.js';
import { KeyTemplate } from '../keys/KeyTemplate.js';

/** Query parameters of the list route that a `list.by` column must not shadow. */
export const RESERVED_PARAMS: ReadonlySet<string> = new Set(['ids', 'before', 'limit']);

/** A JSON schema for a key column's text in a URL or query string. */
export type TextSchema = Readonly<Record<string, unknown>>;

/** Largest text accepted for a `text` key column (a bounded string). */
export const MAX_TEXT_ID = 255;

/**
 * One `api.resources` entry, compiled for the routes: its key templates and
 * the kind of each column a request names, so parameters are validated as
 * the column's type and keys are rendered from canonical text.
 */
export class Resource {
  readonly idColumn: string;
  readonly idKind: ColumnKind;
  readonly list:
    | {
        readonly by: string;
        readonly byKind: ColumnKind;
        readonly cursor: string;
        readonly cursorKind: ColumnKind;
        readonly key: KeyTemplate;
      }
    | undefined;
  private readonly key: KeyTemplate;

  constructor(
    readonly name: string,
    readonly config: ApiResourceConfig,
    kinds: ReadonlyMap<string, ColumnKind>,
  ) {
    const at = `api.resources.${name}`;
    this.key = KeyTemplate.parse(config.key, `${at}.key`);
    // The configuration guarantees exactly one placeholder column (the id).
    this.idColumn = this.key.columns[0] ?? '';
    this.idKind = kindOf(kinds, config.table, this.idColumn, `${at}.key`);
    const list = config.list;
    if (list === undefined) {
      this.list = undefined;
      return;
    }
    if (RESERVED_PARAMS.has(list.by)) {
      throw new SluiceError(
        'E_CONFIG_INVALID',
        `${at}.list.by: column "${list.by}" would clash with the ${list.by} query parameter`,
        { details: { field: `${at}.list.by` } },
      );
    }
    const cursorKind = kindOf(kinds, config.table, list.cursor, `${at}.list.cursor`);
    if (cursorKind === 'binary') {
      throw new SluiceError(
        'E_CONFIG_INVALID',
        `${at}.list.cursor: "${list.cursor}" is a binary column; a cursor must be an integer or text column`,
        { details: { field: `${at}.list.cursor` } },
      );
    }
    this.list = {
      by: list.by,
      byKind: kindOf(kinds, config.table, list.by, `${at}.list.by`),
      cursor: list.cursor,
      cursorKind,
      key: KeyTemplate.parse(list.key, `${at}.list.key`),
    };
  }

  get table(): string {
    return this.config.table;
  }

  /** The cache key of one row, from its id's canonical text. */
  keyOf(idText: string): string {
    return renderOrThrow(this.key, { [this.idColumn]: idText });
  }

  /** The cache key of a list's first page, from the `by` value's canonical text. */
  listKeyOf(byText: string): string {
    if (this.list === undefined) throw new Error(`resource ${this.name} has no list`);
    return renderOrThrow(this.list.key, { [this.list.by]: byText });
  }
}

// BIGINT UNSIGNED has 20 digits; leading zeros are canonicalised away (keyValue).
const INTEGER_PATTERN = '^[0-9]{1,20}$';
const BINARY_PATTERN = '^(?:[0-9A-Fa-f]{2}){1,255}$';
const INTEGER_RE = new RegExp(INTEGER_PATTERN);
const BINARY_RE = new RegExp(BINARY_PATTERN);

/** The JSON schema of a column value given as text (route parameters, query strings). */
export function textSchema(kind: ColumnKind): TextSchema {
  switch (kind) {
    case 'integer':
      return { type: 'string', pattern: INTEGER_PATTERN };
    case 'binary':
      return { type: 'string', pattern: BINARY_PATTERN };
    case 'text':
      return { type: 'string', minLength: 1, maxLength: MAX_TEXT_ID };
  }
}

/** The same check as textSchema, for values inside a list (`?ids=`). */
export function isValidText(kind: ColumnKind, text: string): boolean {
  switch (kind) {
    case 'integer':
      return INTEGER_RE.test(text);
    case 'binary':
      return BINARY_RE.test(text);
    case 'text':
      // JSON schema lengths count code points, as does the spread.
      return text.length > 0 && text.length <= 2 * MAX_TEXT_ID && [...text].length <= MAX_TEXT_ID;
  }
}

/** What isValidText expects, for error messages. */
export function describeKind(kind: ColumnKind): string {
  switch (kind) {
    case 'integer':
      return 'a non-negative integer of at most 20 digits';
    case 'binary':
      return 'hex bytes (1 to 255)';
    case 'text':
      return `1 to ${MAX_TEXT_ID} characters`;
  }
}

function kindOf(
  kinds: ReadonlyMap<string, ColumnKind>,
  table: string,
  column: string,
  field: string,
): ColumnKind {
  const kind = kinds.get(column);
  if (kind === undefined) {
    throw new SluiceError(
      'E_TEMPLATE_COLUMN',
      `${field}: column "${column}" does not exist in ${table}`,
      { details: { field, table, column } },
    );
  }
  return kind;
}

function renderOrThrow(template: KeyTemplate, row: Record<string, string>): string {
  const key = template.render(row);
  if (key === null) throw new Error(`template ${template.source} rendered no key`);
  return key;
}
