import type { DdlKind, TableName } from './RowChange.js';

export interface ParsedDdl {
  readonly kind: DdlKind;
  readonly tables: readonly TableName[];
}

/** Statements that only delimit transactions: never DDL. */
const TX_CONTROL = /^(BEGIN|COMMIT|ROLLBACK|XA\s|SAVEPOINT|RELEASE\s+SAVEPOINT|SET\s)/i;

/** One table reference: `t`, `db.t`, `` `d b`.`t` ``. */
const IDENT = String.raw`(?:\x60(?:[^\x60]|\x60\x60)+\x60|[A-Za-z0-9_$\u0080-\uffff]+)`;
const TABLE_REF = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;
const TABLE_REF_RE = new RegExp(TABLE_REF, 'g');

// Table names are matched with TABLE_REF, never \S+: a backticked name may hold spaces.
const TRUNCATE_RE = new RegExp(String.raw`^TRUNCATE\s+(?:TABLE\s+)?(${TABLE_REF})`, 'i');
const DROP_TABLES_RE = /^DROP\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?([\s\S]+)$/i;
const DROP_DATABASE_RE = new RegExp(
  String.raw`^DROP\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+EXISTS\s+)?(${IDENT})`,
  'i',
);
const ALTER_RE = new RegExp(
  String.raw`^ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?(${TABLE_REF})([\s\S]*)$`,
  'i',
);
const ALTER_RENAME_RE = new RegExp(String.raw`\bRENAME\s+(?:TO\s+|AS\s+)?(${TABLE_REF})\s*$`, 'i');
const RENAME_RE = /^RENAME\s+TABLES?\s+([\s\S]+)$/i;
const CREATE_RE = new RegExp(
  String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${TABLE_REF})`,
  'i',
);

function stripComments(sql: string): string {
  return (
    sql
      // `/*!40101 … */` (and MariaDB's `/*M!100100 … */`) is executed: keep its body.
      .replace(/\/\*(?!M?!)[\s\S]*?\*\//g, ' ')
      .replace(/\/\*M?!\d*([\s\S]*?)\*\//g, ' $1 ')
      .replace(/(^|\s)(--\s|#)[^\n]*/g, ' ')
      .trim()
  );
}

function unquote(ident: string): string {
  return ident.startsWith('`') ? ident.slice(1, -1).replace(/``/g, '`') : ident;
}

function qualify(ref: string, defaultSchema: string): TableName {
  const parts = ref.match(new RegExp(IDENT, 'g')) ?? [];
  const [a, b] = parts.map(unquote);
  if (b !== undefined && a !== undefined) return `${a}.${b}`;
  return `${defaultSchema}.${a ?? ''}`;
}

/** Bare words that can sit between table names in a list (`a TO b`, `NOWAIT`). */
const LIST_WORD_RE = /^(?:TO|AS|IF|EXISTS|WAIT|NOWAIT|RESTRICT|CASCADE|\d+)$/i;

function refs(list: string, defaultSchema: string): TableName[] {
  return (list.match(TABLE_REF_RE) ?? [])
    .filter((r) => !LIST_WORD_RE.test(r))
    .map((r) => qualify(r, defaultSchema));
}

/**
 * Classifies a binlog Query event. Returns null for transaction control
 * (BEGIN/COMMIT/…); otherwise the DDL kind and the tables it names, so the
 * pipeline can flush the key space of a TRUNCATE/DROP of a mapped table and
 * re-check templates after an ALTER. The schema field of the event may be
 * empty when the statement names `db.table`; `defaultSchema` fills the rest.
 */
export function parseDdl(query: string, defaultSchema: string): ParsedDdl | null {
  const sql = stripComments(query);
  if (sql === '' || TX_CONTROL.test(sql)) return null;

  let m = TRUNCATE_RE.exec(sql);
  if (m?.[1]) return { kind: 'truncate', tables: refs(m[1], defaultSchema) };

  m = DROP_TABLES_RE.exec(sql);
  if (m?.[1]) return { kind: 'drop', tables: refs(m[1], defaultSchema) };

  m = DROP_DATABASE_RE.exec(sql);
  if (m?.[1]) return { kind: 'drop', tables: [`${unquote(m[1])}.*`] };

  m = ALTER_RE.exec(sql);
  if (m?.[1]) {
    const tables = refs(m[1], defaultSchema);
    const rename = ALTER_RENAME_RE.exec(m[2] ?? '');
    if (rename?.[1]) tables.push(...refs(rename[1], defaultSchema));
    return { kind: 'alter', tables };
  }

  m = RENAME_RE.exec(sql);
  if (m?.[1]) {
    // Not split on ",": a backticked name may contain one. refs() drops the TO keywords.
    return { kind: 'rename', tables: refs(m[1], defaultSchema) };
  }

  m = CREATE_RE.exec(sql);
  if (m?.[1]) {
    // CREATE OR REPLACE drops the old table: treat it as a drop of that name.
    const replace = /^CREATE\s+OR\s+REPLACE/i.test(sql);
    return { kind: replace ? 'drop' : 'create', tables: refs(m[1], defaultSchema) };
  }

  return { kind: 'other', tables: [] };
}
