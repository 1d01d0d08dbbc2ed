import type { KeyTemplate } from '../../keys/KeyTemplate.js';
import type { Row, RowChange, TableName } from '../change/RowChange.js';

/** One mapping rule: a table and the key templates its rows feed. */
export interface MappingRule {
  readonly table: TableName;
  readonly keys: readonly KeyTemplate[];
}

/**
 * Maps row changes to the cache keys they invalidate. Pure: no I/O, no clock.
 * Both images of an update are mapped, so a changed `email` invalidates the
 * key of the old email and the key of the new one.
 */
export class KeyMapper {
  private readonly byTable: ReadonlyMap<TableName, readonly KeyTemplate[]>;

  constructor(rules: readonly MappingRule[]) {
    const byTable = new Map<TableName, KeyTemplate[]>();
    for (const rule of rules) {
      const list = byTable.get(rule.table) ?? [];
      list.push(...rule.keys);
      byTable.set(rule.table, list);
    }
    this.byTable = byTable;
  }

  /** True when at least one rule maps `table`. */
  maps(table: TableName): boolean {
    return this.byTable.has(table);
  }

  get tables(): readonly TableName[] {
    return [...this.byTable.keys()];
  }

  templates(table: TableName): readonly KeyTemplate[] {
    return this.byTable.get(table) ?? [];
  }

  /** The columns the templates of `table` need. */
  columns(table: TableName): ReadonlySet<string> {
    return new Set(this.templates(table).flatMap((t) => t.columns));
  }

  /** Per mapped table, the columns its templates read: all a row image needs to carry. */
  decodeColumns(): Map<TableName, ReadonlySet<string>> {
    return new Map(this.tables.map((t) => [t, this.columns(t)]));
  }

  /** The mapped tables a DDL names (`db.*`, from DROP DATABASE, expands to the mapped ones of `db`). */
  mappedTables(named: readonly TableName[]): TableName[] {
    const out = new Set<TableName>();
    for (const t of named) {
      if (t.endsWith('.*')) {
        const prefix = t.slice(0, -1);
        for (const m of this.byTable.keys()) if (m.startsWith(prefix)) out.add(m);
      } else if (this.byTable.has(t)) out.add(t);
    }
    return [...out];
  }

  /** Redis globs covering the whole key space of `table` (for TRUNCATE/DROP). */
  patterns(table: TableName): string[] {
    return this.patternsOf([table]);
  }

  /**
   * Redis globs covering the key spaces of `tables`, each glob once, in
   * table order; by default of every mapped table (a full flush).
   */
  patternsOf(tables: readonly TableName[] = this.tables): string[] {
    return [...new Set(tables.flatMap((t) => this.templates(t).map((tpl) => tpl.pattern())))];
  }

  /**
   * The keys a row event's changes invalidate, in row and template order:
   * the keys of both images of an update (a changed `email` drops the old
   * email's key and the new one's). A key fed by several rows of the event
   * (`chat:{chat_id}:messages`) is listed once per row: the consumers (the
   * batcher's open batch, replay's dry run) keep sets, and de-duplicating
   * here would cost a second set per event on the hot path.
   */
  keysOf(changes: readonly RowChange[]): string[] {
    const out: string[] = [];
    for (const change of changes) this.addChange(change, out);
    return out;
  }

  /** The keys of one change, in template order, each once (explain, debug logs). */
  keysFor(change: RowChange): string[] {
    return [...new Set(this.keysOf([change]))];
  }

  private addChange(change: RowChange, out: string[]): void {
    const templates = this.byTable.get(change.table);
    if (templates === undefined) return;
    if (change.kind === 'insert') addKeys(templates, change.after, out);
    else if (change.kind === 'delete') addKeys(templates, change.before, out);
    else {
      addKeys(templates, change.before, out);
      for (const t of templates) {
        // Most updates leave a key's columns alone: the same key, not rendered twice.
        if (t.sameColumns(change.before, change.after)) continue;
        const key = t.render(change.after);
        if (key !== null) out.push(key);
      }
    }
  }
}

function addKeys(templates: readonly KeyTemplate[], row: Row, out: string[]): void {
  for (const t of templates) {
    const key = t.render(row);
    if (key !== null) out.push(key);
  }
}
