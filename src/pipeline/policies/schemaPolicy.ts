import type { Logger } from 'pino';
import type { ColumnLookup } from '../../db/schemaLookup.js';
import { SluiceError } from '../../errors/index.js';
import type { BarrierOutcome } from '../batch/Batcher.js';
import type { DdlKind, SourceEvent, TableName } from '../change/RowChange.js';
import { checkpointOf, type Checkpoint } from '../checkpoint/Checkpoint.js';

/** What a DDL statement of a mapped table calls for. */
export type DdlAction = 'emptied' | 'schema' | 'commit';

/** TRUNCATE/DROP empty the table's key space; ALTER/RENAME/CREATE re-check the templates. Pure. */
export function ddlAction(kind: DdlKind): DdlAction {
  if (kind === 'truncate' || kind === 'drop') return 'emptied';
  if (kind === 'alter' || kind === 'rename' || kind === 'create') return 'schema';
  return 'commit';
}

/**
 * The template columns (`needed`) the live tables (`have`, null: the table
 * is gone) lack, as `db.table.column`, table by table in order. Pure.
 */
export function missingColumns(
  tables: readonly TableName[],
  needed: (table: TableName) => Iterable<string>,
  have: ReadonlyMap<TableName, readonly string[] | null>,
): string[] {
  const missing: string[] = [];
  for (const table of tables) {
    const columns = new Set(have.get(table) ?? []);
    for (const col of needed(table)) {
      if (!columns.has(col)) missing.push(`${table}.${col}`);
    }
  }
  return missing;
}

/** The outcome of a schema re-check, before it is applied. */
export type SchemaDecision =
  | { readonly action: 'pass' }
  | { readonly action: 'fail'; readonly error: SluiceError }
  | { readonly action: 'flush'; readonly error: SluiceError; readonly patterns: readonly string[] };

/**
 * The rule behind the schema re-check: nothing missing passes; otherwise
 * E_SCHEMA_MISMATCH, and `onSchemaMismatch` decides whether it stops the
 * daemon or flushes the tables' key spaces. Pure.
 */
export function decideSchemaMismatch(
  missing: readonly string[],
  patterns: readonly string[],
  query: string,
  policy: 'fail' | 'flush',
): SchemaDecision {
  if (missing.length === 0) return { action: 'pass' };
  const error = new SluiceError(
    'E_SCHEMA_MISMATCH',
    `key templates need columns that no longer exist: ${missing.join(', ')} (after: ${query.slice(0, 200)})`,
    { details: { missing, policy } },
  );
  return policy === 'fail' ? { action: 'fail', error } : { action: 'flush', error, patterns };
}

/** The batcher operations the schema policy orders its work with (binlog order). */
export interface SchemaBatcher {
  commit(boundary: Checkpoint): void;
  flush(patterns: readonly string[], flushAll: boolean, boundary: Checkpoint | null): void;
  barrier(check: () => Promise<BarrierOutcome>, boundary: Checkpoint | null): void;
}

/** The mapping facts the schema policy reads (KeyMapper). */
export interface SchemaMapping {
  mappedTables(named: readonly TableName[]): TableName[];
  patternsOf(tables: readonly TableName[]): string[];
  columns(table: TableName): ReadonlySet<string>;
}

export interface SchemaPolicyOptions {
  readonly mapper: SchemaMapping;
  /** The live columns of a table (null: it does not exist). */
  readonly columns: ColumnLookup;
  readonly onSchemaMismatch: 'fail' | 'flush';
  /** The delivery stages: `batcher` is the current one (a re-stream rebuilds them). */
  readonly delivery: { readonly batcher: SchemaBatcher };
  /** Stops the daemon with a coded error. */
  readonly fail: (err: SluiceError) => void;
  readonly log: Logger;
}

/**
 * The DDL policies: a TRUNCATE/DROP of a mapped table (onTableEmptied) and
 * an ALTER/RENAME/CREATE of one (onSchemaChange, recheckSchema). Every
 * decision takes effect through the batcher, in binlog order.
 */
export class SchemaPolicy {
  constructor(private readonly o: SchemaPolicyOptions) {}

  /**
   * A DDL statement read from the binlog; unmapped tables only move the
   * checkpoint, to `cp` (the statement's own position, or an earlier one a
   * prepared XA holds: Invalidator).
   */
  onDdl(ev: Extract<SourceEvent, { type: 'ddl' }>, cp: Checkpoint = checkpointOf(ev)): void {
    const { mapper } = this.o;
    const tables = mapper.mappedTables(ev.tables);
    if (tables.length === 0) {
      this.o.delivery.batcher.commit(cp);
      return;
    }
    const patterns = mapper.patternsOf(tables);
    const action = ddlAction(ev.kind);
    if (action === 'emptied') this.onTableEmptied(ev.kind, tables, patterns, cp);
    else if (action === 'schema') this.onSchemaChange(tables, patterns, ev.query, cp);
    else this.o.delivery.batcher.commit(cp);
  }

  /** Policy: a TRUNCATE/DROP of a mapped table removes its whole key space, in binlog order. */
  private onTableEmptied(
    kind: string,
    tables: readonly TableName[],
    patterns: readonly string[],
    cp: Checkpoint,
  ): void {
    this.o.log.warn({ kind, tables, patterns }, 'mapped table emptied: flushing its key space');
    this.o.delivery.batcher.flush(patterns, false, cp);
  }

  /**
   * Policy: after an ALTER/RENAME/CREATE of a mapped table the templates are
   * checked against the table as it is now, in binlog order: the checkpoint
   * cannot pass the statement before the check is done.
   */
  private onSchemaChange(
    tables: readonly TableName[],
    patterns: readonly string[],
    query: string,
    cp: Checkpoint,
  ): void {
    this.o.delivery.batcher.barrier(() => this.recheckSchema(tables, patterns, query), cp);
  }

  /** The schema check behind onSchemaChange; onSchemaMismatch decides fail or flush. */
  private async recheckSchema(
    tables: readonly TableName[],
    patterns: readonly string[],
    query: string,
  ): Promise<BarrierOutcome> {
    const have = new Map<TableName, readonly string[] | null>();
    for (const table of tables) {
      const dot = table.indexOf('.');
      have.set(table, await this.o.columns(table.slice(0, dot), table.slice(dot + 1)));
    }
    const missing = missingColumns(tables, (t) => this.o.mapper.columns(t), have);
    const decision = decideSchemaMismatch(missing, patterns, query, this.o.onSchemaMismatch);
    if (decision.action === 'pass') return { action: 'pass' };
    const err = decision.error;
    if (decision.action === 'fail') {
      // The dispatcher stops at the barrier: the checkpoint never passes the ALTER.
      this.o.fail(err);
      return { action: 'halt' };
    }
    this.o.log.error(
      { code: err.code, missing, patterns },
      `${err.message}; flushing the table key space (onSchemaMismatch: flush)`,
    );
    return { action: 'flush', patterns: decision.patterns };
  }
}
