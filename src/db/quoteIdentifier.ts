import { SluiceError } from '../errors/index.js';

const IDENTIFIER_RE = /^[A-Za-z0-9_$]+$/;

/**
 * A database, table or column name as a backtick-quoted SQL identifier.
 * Names come from the configuration, never from a request, but are still
 * checked against `[A-Za-z0-9_$]+` so no text can leave the quotes: a name
 * outside that set is refused (E_CONFIG_INVALID) rather than escaped.
 */
export function quoteIdentifier(name: string, what = 'identifier'): string {
  if (!IDENTIFIER_RE.test(name)) {
    throw new SluiceError(
      'E_CONFIG_INVALID',
      `${what} "${name}" is not usable in SQL: names may only use A-Z a-z 0-9 _ $`,
      { details: { [what]: name } },
    );
  }
  return `\`${name}\``;
}

/** `db.table` (or a bare `table` of the connection's database) as quoted SQL. */
export function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length === 1) return quoteIdentifier(table, 'table');
  const [db = '', name = ''] = parts;
  if (parts.length !== 2) quoteIdentifier(table, 'table'); // throws: more than one dot
  return `${quoteIdentifier(db, 'database')}.${quoteIdentifier(name, 'table')}`;
}
