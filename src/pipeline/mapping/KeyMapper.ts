import type { KeyTemplate } from '../../keys/KeyTemplate.js';
import type { RowChange, TableName } from '../change/RowChange.js';

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
    return [...new Set(this.templates(table).map((t) => t.pattern()))];
  }

  /**
   * The keys a row event's changes invalidate, each once, in template
   * order: the keys of both images of an update (a changed `email` drops the
   * old email's key and the new one's).
   */
  keysOf(changes: readonly RowChange[]): string[] {
    const out: string[] = [];
    let seen: Set<string> | null = null;
    for (const change of changes) {
      const templates = this.byTable.get(change.table);
      if (templates === undefined) continue;
      if (change.kind === 'insert') {
        for (const t of templates) seen = addKey(out, seen, t.render(change.after));
      } else if (change.kind === 'delete') {
        for (const t of templates) seen = addKey(out, seen, t.render(change.before));
      } else {
        for (const t of templates) seen = addKey(out, seen, t.render(change.before));
        for (const t of templates) {
          // Most updates leave a key's columns alone: the same key, not rendered twice.
          if (t.sameColumns(change.before, change.after)) continue;
          seen = addKey(out, seen, t.render(change.after));
        }
      }
    }
    return out;
  }

  /** The keys of one change, in template order, each once. */
  keysFor(change: RowChange): string[] {
    return this.keysOf([change]);
  }
}

/** Up to this many keys, duplicates are found by scanning the array (no set allocated). */
export const SCAN_LIMIT = 16;

/**
 * Appends `key` unless null or already in `out`. A small event (the usual
 * transaction) finds duplicates by scanning its few keys; past SCAN_LIMIT
 * keys a set takes over. Returns the set, once there is one.
 */
function addKey(out: string[], seen: Set<string> | null, key: string | null): Set<string> | null {
  if (key === null) return seen;
  if (seen !== null) {
    if (seen.has(key)) return seen;
    seen.add(key);
  } else if (out.includes(key)) return null;
  else if (out.length >= SCAN_LIMIT) seen = new Set(out).add(key);
  out.push(key);
  return seen;
}
