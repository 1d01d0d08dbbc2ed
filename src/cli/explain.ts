import type { Command } from 'commander';
import { buildMappingRules } from '../config/schema.js';
import type { Row, RowChange } from '../pipeline/change/RowChange.js';
import { KeyMapper } from '../pipeline/mapping/KeyMapper.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, quiet, usageError, writeJson, writeLines } from './output.js';

interface ExplainOptions extends GlobalOptions {
  readonly table?: string;
  readonly row?: string;
  readonly before?: string;
  readonly json?: boolean;
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('print the cache keys a row change maps to (no database or Redis needed)')
    .requiredOption('--table <db.table>', 'the changed table')
    .option('--row <json>', 'the row after the change (alone: an insert)')
    .option('--before <json>', 'the row before the change (with --row: an update; alone: a delete)')
    .option('--json', 'print a JSON array instead of one key per line')
    .addHelpText(
      'after',
      examples(
        `sluice explain --table app.users --row '{"id":1,"email":"a@b"}'`,
        `sluice explain --table app.users --before '{"id":1,"email":"old@b"}' --row '{"id":1,"email":"new@b"}'`,
      ) +
        '\n\nValues are JSON: integers beyond 2^53 are kept exact; give binary columns as lowercase hex.',
    )
    .action((_opts: object, cmd: Command) => {
      explain(cmd.optsWithGlobals<ExplainOptions>());
    });
}

/** `sluice explain`: the keys of one change, from the daemon's own KeyMapper. */
export function explain(opts: ExplainOptions): void {
  const table = opts.table ?? '';
  if (opts.row === undefined && opts.before === undefined) {
    throw usageError('give --row (insert), --before (delete) or both (update)');
  }
  // Parse the arguments before the configuration: a typo is reported as such.
  const after = opts.row === undefined ? undefined : parseRowJson(opts.row, '--row');
  const before = opts.before === undefined ? undefined : parseRowJson(opts.before, '--before');
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);

  const mapper = new KeyMapper(buildMappingRules(config));
  if (!mapper.maps(table)) {
    throw usageError(
      `table ${table} is not mapped by any rule (mapped: ${mapper.tables.join(', ') || 'none'})`,
      { table },
    );
  }
  const change: RowChange =
    before === undefined
      ? { kind: 'insert', table, after: after as Row }
      : after === undefined
        ? { kind: 'delete', table, before }
        : { kind: 'update', table, before, after };
  const keys = mapper.keysFor(change);
  if (opts.json === true) writeJson(keys);
  else writeLines(keys);
}

/**
 * Parses a row given on the command line: a JSON object. Integer literals
 * beyond 2^53 are kept as their exact decimal text (as the binlog source
 * hands them over), so `{"id": 18446744073709551615}` renders exactly.
 * Throws E_USAGE naming `option`.
 */
export function parseRowJson(text: string, option: string): Row {
  let value: unknown;
  try {
    value = JSON.parse(quoteBigIntegers(text));
  } catch (err) {
    throw usageError(`${option}: not valid JSON (${(err as Error).message})`, { option });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usageError(`${option}: must be a JSON object of column values, e.g. {"id":1}`, {
      option,
    });
  }
  return value as Row;
}

const NUMBER_RE = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Wraps unsafe integer literals (outside strings) in quotes; everything else is unchanged. */
function quoteBigIntegers(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"') {
      // Copy the string literal verbatim, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === '-' || (ch >= '0' && ch <= '9')) {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(text);
      if (m !== null) {
        const literal = m[0];
        const integer = /^-?\d+$/.test(literal);
        out += integer && !Number.isSafeInteger(Number(literal)) ? `"${literal}"` : literal;
        i += literal.length;
        continue;
      }
    }
    out += ch;
    i++;
  }
  return out;
}
