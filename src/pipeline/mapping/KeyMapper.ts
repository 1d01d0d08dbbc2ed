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

  /** Redis globs covering the whole key space of `table` (for TRUNCATE/DROP). */
  patterns(table: TableName): string[] {
    return [...new Set(this.templates(table).map((t) => t.pattern()))];
  }

  /**
   * Adds the keys of one change to `out` (a Set, so duplicates across rows
   * and transactions collapse). Returns how many keys were added.
   */
  collect(change: RowChange, out: Set<string>): number {
    const templates = this.byTable.get(change.table);
    if (templates === undefined) return 0;
    const size = out.size;
    if (change.kind === 'insert') addKeys(templates, change.after, out);
    else if (change.kind === 'delete') addKeys(templates, change.before, out);
    else {
      addKeys(templates, change.before, out);
      for (const t of templates) {
        // Most updates leave a key's columns alone: the same key, not rendered twice.
        if (t.sameColumns(change.before, change.after)) continue;
        const key = t.render(change.after);
        if (key !== null) out.add(key);
      }
    }
    return out.size - size;
  }

  /** The keys of one change, in template order, each once. */
  keysFor(change: RowChange): string[] {
    const out = new Set<string>();
    this.collect(change, out);
    return [...out];
  }
}

function addKeys(templates: readonly KeyTemplate[], row: Row, out: Set<string>): void {
  for (const t of templates) {
    const key = t.render(row);
    if (key !== null) out.add(key);
  }
}
