import { KeyTemplate } from '../keys/KeyTemplate.js';
import { configError, formatPath } from './issues.js';
import type { ConfigIssue } from './issues.js';
import type { SluiceConfig } from './schema.js';

/** Column names of `schema.table` on the live server, or null when it does not exist. */
export type ColumnLookup = (schema: string, table: string) => Promise<readonly string[] | null>;

/** A configured field that names a column the table does not have. */
export interface MissingColumn {
  /** `rules[1].keys[0]`, `api.resources.messages.list.cursor`, … */
  readonly path: string;
  readonly column: string;
}

/**
 * The template placeholders and API columns configured for `table` that are
 * not among `columns`. Pure: the daemon calls it after an ALTER TABLE to
 * decide whether the templates still match (source.onSchemaMismatch).
 * Column names compare exactly, as row images are keyed by exact name.
 */
export function missingColumns(
  config: SluiceConfig,
  table: string,
  columns: readonly string[],
): MissingColumn[] {
  const have = new Set(columns);
  const out: MissingColumn[] = [];
  const check = (path: string, names: readonly string[]): void => {
    for (const column of new Set(names)) if (!have.has(column)) out.push({ path, column });
  };
  config.rules.forEach((rule, i) => {
    if (rule.table !== table) return;
    rule.keys.forEach((key, j) => check(`rules[${i}].keys[${j}]`, templateColumns(key)));
  });
  for (const [name, resource] of Object.entries(config.api.resources)) {
    if (resource.table !== table) continue;
    const at = formatPath(['api', 'resources', name]);
    check(`${at}.key`, templateColumns(resource.key));
    if (resource.list === undefined) continue;
    check(`${at}.list.key`, templateColumns(resource.list.key));
    check(`${at}.list.by`, [resource.list.by]);
    check(`${at}.list.cursor`, [resource.list.cursor]);
  }
  return out;
}

/**
 * Checks the configuration against the live schema: every rule's table
 * exists and has every column its templates and API resources name. Throws
 * one E_CONFIG_INVALID (exit code 2) listing every problem by field path.
 * Errors of `lookup` itself (connection, grants) propagate unchanged.
 */
export async function checkAgainstSchema(
  config: SluiceConfig,
  lookup: ColumnLookup,
): Promise<void> {
  const tables = [
    ...new Set([
      ...config.rules.map((r) => r.table),
      ...Object.values(config.api.resources).map((r) => r.table),
    ]),
  ];
  const found = new Map(
    await Promise.all(
      tables.map(async (table) => {
        const [schema = '', name = ''] = splitTable(table);
        return [table, await lookup(schema, name)] as const;
      }),
    ),
  );

  const issues: ConfigIssue[] = [];
  config.rules.forEach((rule, i) => {
    if (found.get(rule.table) === null) {
      issues.push({
        path: `rules[${i}].table`,
        message: `table ${rule.table} does not exist (or the user cannot see it)`,
      });
    }
  });
  // A resource's table is always a rule's table (validated): a missing one is
  // reported once, at the rule.
  for (const table of tables) {
    const columns = found.get(table);
    if (columns === null || columns === undefined) continue;
    for (const miss of missingColumns(config, table, columns)) {
      issues.push({ path: miss.path, message: columnMessage(miss.column, table, columns) });
    }
  }
  if (issues.length === 0) return;
  // Document order: rules by index (stable within a rule), then the API.
  const order = (path: string): number =>
    Number(/^rules\[(\d+)\]/.exec(path)?.[1] ?? Number.MAX_SAFE_INTEGER);
  issues.sort((a, b) => order(a.path) - order(b.path));
  throw configError('E_CONFIG_INVALID', issues, undefined, 'does not match the database schema');
}

function columnMessage(column: string, table: string, columns: readonly string[]): string {
  const base = `column "${column}" does not exist in ${table}`;
  const sameButCase = columns.find((c) => c.toLowerCase() === column.toLowerCase());
  return sameButCase === undefined
    ? base
    : `${base} (did you mean "${sameButCase}"? template columns are case-sensitive)`;
}

function templateColumns(text: string): readonly string[] {
  return KeyTemplate.parse(text).columns;
}

/** `db.table` → [db, table] (validated to hold exactly one dot). */
function splitTable(table: string): [string, string] {
  const dot = table.indexOf('.');
  return [table.slice(0, dot), table.slice(dot + 1)];
}
