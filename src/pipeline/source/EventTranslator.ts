import type { BinlogEvent } from '@vlasky/zongji';
import type { Row, RowChange } from '../change/RowChange.js';
import { parseDdl } from '../change/ddl.js';
import { position, type BinlogPosition } from '../position.js';
import type { ServerIdentity } from '../ServerIdentity.js';
import { GtidTracker } from './GtidTracker.js';
import type { SourceHandler } from './SourceHandler.js';
import type { StartPoint } from './StartPoint.js';

/** Table ids remembered with their names at most (a server assigns new ids as tables are reopened). */
const MAX_TABLE_IDS = 4096;

/**
 * An XA transaction in the binlog (MariaDB and MySQL): its rows, then XA END
 * and XA PREPARE (no XID), and later, in a group of its own with no rows,
 * XA COMMIT or XA ROLLBACK. The server logs the xid in one canonical form
 * (`X'…',X'…',n`), the same in each statement; MySQL's one-phase commit adds
 * ONE PHASE.
 */
const XA_STEP = /^XA\s+(END|COMMIT|ROLLBACK)\s+(.+?)(?:\s+ONE\s+PHASE)?$/is;

/** Where the event that is being translated ends: zongji's `options` (read, never kept). */
export interface BinlogCursor {
  readonly filename?: string | undefined;
  readonly position?: number | undefined;
}

interface ZongjiRowsEvent {
  tableId: number;
  tableMap: Record<number, { parentSchema: string; tableName: string }>;
  rows: Array<Row | { before: Row; after: Row }>;
}

/**
 * Turns zongji's binlog events into SourceEvents, in binlog order: row
 * events into RowChanges, XID and COMMIT/ROLLBACK queries into commit
 * boundaries, DDL statements into ddl events (boundaries too), heartbeats
 * into heartbeats. Every boundary carries the GTIDs read so far (its
 * GtidTracker) and the server, and becomes the resume point. The hot path
 * of the daemon: nothing is allocated beyond the events themselves.
 */
export class EventTranslator {
  /** The GTIDs up to the last boundary; seeded for each connection. */
  readonly gtids = new GtidTracker();
  /** The server the stream is read from, once it answered: boundaries carry it. */
  server: ServerIdentity | undefined = undefined;
  /** The last transaction boundary handed on (or the start): where a reconnect resumes. */
  resumeAt: StartPoint = { kind: 'end' };
  /** Per table id, the names its last table map gave and their `schema.table`. */
  private readonly tables = new Map<number, { schema: string; name: string; table: string }>();
  /** The watched tables' names, each mapped to itself (see `tableName`). */
  private readonly watched: ReadonlyMap<string, string>;

  constructor(
    private readonly sink: Pick<SourceHandler, 'onEvent'>,
    /** Stop after this position (replay). */
    private readonly stopAt: BinlogPosition | undefined,
    /** The watched tables (`schema.table`): row events name them with these very strings. */
    watched: Iterable<string> = [],
  ) {
    this.watched = new Map(Array.from(watched, (t) => [t, t]));
  }

  /**
   * Hands `event` (named `name`, its `getEventName()`) on as a SourceEvent,
   * if it is one. True when it was a boundary at or past `stopAt`: nothing
   * after it is to be read.
   */
  translate(name: string, event: BinlogEvent, cursor: BinlogCursor): boolean {
    switch (name) {
      case 'writerows':
      case 'updaterows':
      case 'deleterows': {
        const ev = event as unknown as ZongjiRowsEvent;
        const meta = ev.tableMap[ev.tableId];
        if (meta === undefined) return false;
        const table = this.tableName(ev.tableId, meta.parentSchema, meta.tableName);
        const changes: RowChange[] = new Array<RowChange>(ev.rows.length);
        for (let i = 0; i < ev.rows.length; i++) {
          const r = ev.rows[i] as Row & { before: Row; after: Row };
          changes[i] =
            name === 'writerows'
              ? { kind: 'insert', table, after: r }
              : name === 'deleterows'
                ? { kind: 'delete', table, before: r }
                : { kind: 'update', table, before: r.before, after: r.after };
        }
        this.sink.onEvent({
          type: 'rows',
          table,
          changes,
          gtid: event.gtid,
          timestamp: event.timestamp,
        });
        return false;
      }
      case 'xid':
        return this.boundary(positionAt(cursor), event);
      case 'query': {
        const q = event as unknown as { query: string; schema: string };
        const text = q.query.trim();
        const upper = text.slice(0, 8).toUpperCase();
        if (upper.startsWith('COMMIT') || upper.startsWith('ROLLBACK')) {
          // COMMIT ends a transaction on non-transactional engines (Aria/MyISAM);
          // ROLLBACK appears when such rows were already written: both are boundaries.
          return this.boundary(positionAt(cursor), event);
        }
        const xa = XA_STEP.exec(text);
        if (xa !== null) {
          const step = (xa[1] as string).toUpperCase();
          const xid = xa[2] as string;
          this.sink.onEvent(
            step === 'END'
              ? { type: 'xaEnd', xid, timestamp: event.timestamp }
              : { type: 'xaOutcome', xid, committed: step === 'COMMIT' },
          );
          return false;
        }
        const ddl = parseDdl(text, q.schema);
        if (ddl === null) return false;
        const pos = positionAt(cursor);
        this.gtids.add(event.gtid);
        const gtid = this.gtids.current;
        this.resumeAt = { kind: 'position', position: pos, gtid, server: this.server };
        this.sink.onEvent({
          type: 'ddl',
          kind: ddl.kind,
          tables: ddl.tables,
          query: text,
          position: pos,
          gtid,
          server: this.server,
          timestamp: event.timestamp,
        });
        return this.reachedStop(pos);
      }
      case 'heartbeat':
        this.sink.onEvent({ type: 'heartbeat', position: positionAt(cursor) });
        return false;
      default:
        return false;
    }
  }

  /**
   * `schema.table`, the same string for every event of a table id while its
   * names stay: no concatenation per event, and the maps keyed by it hash
   * it once. A watched table's is the string the source was given (the
   * mapper's own map key): a map lookup then finds its key by identity
   * instead of comparing the characters of two equal strings each time (a
   * runtime call that cost ~1.4 µs per transaction live, docs/benchmarks.md).
   */
  private tableName(tableId: number, schema: string, name: string): string {
    const known = this.tables.get(tableId);
    if (known !== undefined && known.schema === schema && known.name === name) return known.table;
    const joined = `${schema}.${name}`;
    const table = this.watched.get(joined) ?? joined;
    if (this.tables.size >= MAX_TABLE_IDS) this.tables.clear();
    this.tables.set(tableId, { schema, name, table });
    return table;
  }

  private boundary(pos: BinlogPosition, event: BinlogEvent): boolean {
    this.gtids.add(event.gtid);
    const gtid = this.gtids.current;
    this.resumeAt = { kind: 'position', position: pos, gtid, server: this.server };
    this.sink.onEvent({
      type: 'commit',
      position: pos,
      gtid,
      server: this.server,
      timestamp: event.timestamp,
    });
    return this.reachedStop(pos);
  }

  private reachedStop(pos: BinlogPosition): boolean {
    const stopAt = this.stopAt;
    return stopAt !== undefined && pos.file === stopAt.file && pos.pos >= stopAt.pos;
  }
}

const names = new Map<unknown, string>();

/**
 * `event.getEventName()` (`writerows`, `xid`, …), once per event class:
 * zongji derives it from the class's name and lower-cases it on every call,
 * a new string per event.
 */
export function eventName(event: BinlogEvent): string {
  const kind: unknown = (event as object).constructor;
  let name = names.get(kind);
  if (name === undefined) {
    name = event.getEventName();
    // zongji's events are instances of one class per event type; anything
    // else (a plain object) is asked every time.
    if (kind !== Object) names.set(kind, name);
  }
  return name;
}

/** The position after the current event (zongji keeps it in its options). */
export function positionAt(cursor: BinlogCursor): BinlogPosition {
  return position(cursor.filename ?? '', cursor.position ?? 4);
}
