import type { BinlogEvent } from '@vlasky/zongji';
import { describe, expect, it } from 'vitest';
import type { SourceEvent } from '../../src/pipeline/change/RowChange.js';
import { position } from '../../src/pipeline/position.js';
import type { ServerIdentity } from '../../src/pipeline/ServerIdentity.js';
import {
  EventTranslator,
  eventName,
  positionAt,
  type BinlogCursor,
} from '../../src/pipeline/source/EventTranslator.js';

const SERVER: ServerIdentity = { kind: 'mariadb', serverId: 1, domainId: 0 };
const CURSOR: BinlogCursor = { filename: 'binlog.000003', position: 1234 };

/** A zongji event named `name`, with `fields` (rows, tableMap, query...). */
function event(name: string, fields: Record<string, unknown> = {}): BinlogEvent {
  return {
    timestamp: 1_700_000_000_000,
    nextPosition: 0,
    size: 0,
    getEventName: () => name,
    getTypeName: () => name,
    dump: () => undefined,
    ...fields,
  };
}

const TABLE_MAP = { 7: { parentSchema: 'app', tableName: 'users' } };

function setup(stopAt?: ReturnType<typeof position>) {
  const events: SourceEvent[] = [];
  const translator = new EventTranslator({ onEvent: (e) => events.push(e) }, stopAt);
  translator.server = SERVER;
  translator.gtids.seed('mariadb', '0-1-41');
  return { events, translator };
}

describe('eventName', () => {
  it('is getEventName(), asked once per event class (a plain object: every time)', () => {
    let asked = 0;
    class WriteRows {
      getEventName(): string {
        asked++;
        return 'writerows';
      }
    }
    class Xid {
      getEventName(): string {
        asked++;
        return 'xid';
      }
    }
    const ev = (e: object) => e as unknown as BinlogEvent;
    expect(
      [new WriteRows(), new Xid(), new WriteRows(), new Xid()].map((e) => eventName(ev(e))),
    ).toEqual(['writerows', 'xid', 'writerows', 'xid']);
    expect(asked).toBe(2);
    expect(eventName(event('query'))).toBe('query');
    expect(eventName(event('rotate'))).toBe('rotate');
  });
});

describe('EventTranslator', () => {
  it('names a table by the names its table map gives now: renamed or reassigned ids read the new names', () => {
    const { events, translator } = setup();
    const rows = (tableMap: Record<number, { parentSchema: string; tableName: string }>) =>
      translator.translate(
        'writerows',
        event('writerows', { tableId: 7, tableMap, rows: [{ id: 1 }] }),
        CURSOR,
      );
    rows(TABLE_MAP);
    rows({ 7: { parentSchema: 'app', tableName: 'users' } }); // the next transaction's table map
    rows({ 7: { parentSchema: 'app', tableName: 'accounts' } }); // RENAME TABLE users TO accounts
    rows({ 7: { parentSchema: 'other', tableName: 'accounts' } });
    rows({ 7: { parentSchema: 'app', tableName: 'users' } });
    expect(events.map((e) => (e.type === 'rows' ? e.table : e.type))).toEqual([
      'app.users',
      'app.users',
      'app.accounts',
      'other.accounts',
      'app.users',
    ]);
  });

  it('MariaDB boundaries carry the last GTID per domain, domains in numeric order', () => {
    const { events, translator } = setup(); // seeded 0-1-41
    const commit = (gtid: string) => translator.translate('xid', event('xid', { gtid }), CURSOR);
    commit('0-1-42');
    commit('10-3-7'); // a second domain
    commit('2-2-5');
    commit('0-2-43'); // a failover within domain 0
    expect(events.map((e) => (e.type === 'commit' ? e.gtid : e.type))).toEqual([
      '0-1-42',
      '0-1-42,10-3-7',
      '0-1-42,2-2-5,10-3-7',
      '0-2-43,2-2-5,10-3-7',
    ]);
  });

  it('turns write, update and delete rows into RowChanges of `db.table`, not a boundary', () => {
    const { events, translator } = setup();
    const a = { id: 1 };
    const b = { id: 2 };
    expect(
      translator.translate(
        'writerows',
        event('writerows', { tableId: 7, tableMap: TABLE_MAP, rows: [a, b], gtid: '0-1-42' }),
        CURSOR,
      ),
    ).toBe(false);
    translator.translate(
      'updaterows',
      event('updaterows', { tableId: 7, tableMap: TABLE_MAP, rows: [{ before: a, after: b }] }),
      CURSOR,
    );
    translator.translate(
      'deleterows',
      event('deleterows', { tableId: 7, tableMap: TABLE_MAP, rows: [b] }),
      CURSOR,
    );
    expect(events).toEqual([
      {
        type: 'rows',
        table: 'app.users',
        changes: [
          { kind: 'insert', table: 'app.users', after: a },
          { kind: 'insert', table: 'app.users', after: b },
        ],
        gtid: '0-1-42',
        timestamp: 1_700_000_000_000,
      },
      {
        type: 'rows',
        table: 'app.users',
        changes: [{ kind: 'update', table: 'app.users', before: a, after: b }],
        gtid: undefined,
        timestamp: 1_700_000_000_000,
      },
      {
        type: 'rows',
        table: 'app.users',
        changes: [{ kind: 'delete', table: 'app.users', before: b }],
        gtid: undefined,
        timestamp: 1_700_000_000_000,
      },
    ]);
    expect(translator.resumeAt).toEqual({ kind: 'end' });
  });

  it('drops rows of a table id without a table map entry', () => {
    const { events, translator } = setup();
    const ev = event('writerows', { tableId: 8, tableMap: TABLE_MAP, rows: [{ id: 1 }] });
    expect(translator.translate('writerows', ev, CURSOR)).toBe(false);
    expect(events).toEqual([]);
  });

  it('ends a transaction at XID: a commit at the cursor with the GTIDs so far and the server, the new resume point', () => {
    const { events, translator } = setup();
    expect(translator.translate('xid', event('xid', { gtid: '0-1-42' }), CURSOR)).toBe(false);
    const at = position('binlog.000003', 1234);
    expect(events).toEqual([
      {
        type: 'commit',
        position: at,
        gtid: '0-1-42',
        server: SERVER,
        timestamp: 1_700_000_000_000,
      },
    ]);
    expect(translator.resumeAt).toEqual({
      kind: 'position',
      position: at,
      gtid: '0-1-42',
      server: SERVER,
    });
  });

  it('takes COMMIT and ROLLBACK queries (any case, padded) as boundaries; BEGIN and other statements are no event', () => {
    const { events, translator } = setup();
    translator.translate('query', event('query', { query: '  commit ', schema: 'app' }), CURSOR);
    translator.translate(
      'query',
      event('query', { query: 'ROLLBACK', schema: 'app', gtid: '0-1-43' }),
      { filename: 'binlog.000003', position: 2000 },
    );
    // Neither a boundary nor a DDL: no event, and never the end of a replay's range.
    const past = { filename: 'binlog.000009', position: 1 };
    expect(
      setup(position('binlog.000003', 1)).translator.translate(
        'query',
        event('query', { query: 'BEGIN', schema: 'app' }),
        past,
      ),
    ).toBe(false);
    expect(
      translator.translate('query', event('query', { query: 'BEGIN', schema: 'app' }), CURSOR),
    ).toBe(false);
    translator.translate('query', event('query', { query: 'SET @a = 1', schema: 'app' }), CURSOR);
    // Text after the keyword (a comment) does not hide the boundary.
    translator.translate(
      'query',
      event('query', { query: 'COMMIT /* app */', schema: 'app', gtid: '0-1-44' }),
      { filename: 'binlog.000003', position: 2100 },
    );
    expect(events).toEqual([
      {
        type: 'commit',
        position: position('binlog.000003', 1234),
        gtid: '0-1-41',
        server: SERVER,
        timestamp: 1_700_000_000_000,
      },
      {
        type: 'commit',
        position: position('binlog.000003', 2000),
        gtid: '0-1-43',
        server: SERVER,
        timestamp: 1_700_000_000_000,
      },
      {
        type: 'commit',
        position: position('binlog.000003', 2100),
        gtid: '0-1-44',
        server: SERVER,
        timestamp: 1_700_000_000_000,
      },
    ]);
  });

  it('takes XA END, XA COMMIT and XA ROLLBACK (any case, as MariaDB and MySQL log them) with their xid as XA steps, no boundary; XA START is no event', () => {
    const { events, translator } = setup(position('binlog.000003', 1));
    const past = { filename: 'binlog.000009', position: 1 };
    for (const query of [
      "XA START X'7831',X'',1",
      "XA END X'7831',X'',1",
      "xa  end 'x2'",
      "XA COMMIT X'7831',X'',1",
      "XA ROLLBACK X'7832',X'',1",
      "XA COMMIT X'7833',X'',1 ONE PHASE", // MySQL's one-phase commit: the same xid
      'XA ENDING', // no such statement
      "SET @note = 'XA END x'", // the words, not the statement
    ]) {
      // Never the end of a replay's range, even past it.
      expect(translator.translate('query', event('query', { query, schema: 'app' }), past)).toBe(
        false,
      );
    }
    expect(events).toEqual([
      { type: 'xaEnd', xid: "X'7831',X'',1", timestamp: 1_700_000_000_000 },
      { type: 'xaEnd', xid: "'x2'", timestamp: 1_700_000_000_000 },
      { type: 'xaOutcome', xid: "X'7831',X'',1", committed: true },
      { type: 'xaOutcome', xid: "X'7832',X'',1", committed: false },
      { type: 'xaOutcome', xid: "X'7833',X'',1", committed: true },
    ]);
  });

  it('hands DDL on as a ddl boundary with the trimmed statement, its tables and the GTIDs', () => {
    const { events, translator } = setup();
    const ev = event('query', {
      query: ' ALTER TABLE users ADD COLUMN x INT\n',
      schema: 'app',
      gtid: '0-1-42',
    });
    expect(translator.translate('query', ev, CURSOR)).toBe(false);
    const at = position('binlog.000003', 1234);
    expect(events).toEqual([
      {
        type: 'ddl',
        kind: 'alter',
        tables: ['app.users'],
        query: 'ALTER TABLE users ADD COLUMN x INT',
        position: at,
        gtid: '0-1-42',
        server: SERVER,
        timestamp: 1_700_000_000_000,
      },
    ]);
    expect(translator.resumeAt).toEqual({
      kind: 'position',
      position: at,
      gtid: '0-1-42',
      server: SERVER,
    });
  });

  it('passes heartbeats on with their position and ignores other events', () => {
    const { events, translator } = setup();
    expect(translator.translate('heartbeat', event('heartbeat'), CURSOR)).toBe(false);
    expect(translator.translate('tablemap', event('tablemap'), CURSOR)).toBe(false);
    expect(translator.translate('rotate', event('rotate'), CURSOR)).toBe(false);
    expect(events).toEqual([{ type: 'heartbeat', position: position('binlog.000003', 1234) }]);
    expect(translator.resumeAt).toEqual({ kind: 'end' });
  });

  it('reports a boundary at or past stopAt in the same file, after handing it on', () => {
    const { events, translator } = setup(position('binlog.000003', 1500));
    const xid = event('xid');
    expect(translator.translate('xid', xid, { filename: 'binlog.000003', position: 1499 })).toBe(
      false,
    );
    expect(translator.translate('xid', xid, { filename: 'binlog.000002', position: 9000 })).toBe(
      false,
    );
    expect(translator.translate('xid', xid, { filename: 'binlog.000003', position: 1500 })).toBe(
      true,
    );
    const ddl = event('query', { query: 'TRUNCATE t', schema: 'app' });
    expect(translator.translate('query', ddl, { filename: 'binlog.000003', position: 1600 })).toBe(
      true,
    );
    // Rows and heartbeats past it end nothing.
    expect(
      translator.translate('heartbeat', event('heartbeat'), {
        filename: 'binlog.000003',
        position: 1700,
      }),
    ).toBe(false);
    expect(events.map((e) => e.type)).toEqual(['commit', 'commit', 'commit', 'ddl', 'heartbeat']);
  });

  it('calls the sink as a method (its `this`) and keeps no GTIDs from an unknown MySQL start', () => {
    class Sink {
      readonly seen: SourceEvent[] = [];
      onEvent(e: SourceEvent): void {
        this.seen.push(e);
      }
    }
    const sink = new Sink();
    const translator = new EventTranslator(sink, undefined);
    translator.gtids.seed('mysql', undefined);
    translator.translate('xid', event('xid', { gtid: 'uuid:5' }), CURSOR);
    expect(sink.seen).toEqual([
      {
        type: 'commit',
        position: position('binlog.000003', 1234),
        gtid: undefined,
        server: undefined,
        timestamp: 1_700_000_000_000,
      },
    ]);
  });
});

describe('positionAt', () => {
  it("reads zongji's cursor, '' and 4 where it has none yet", () => {
    expect(positionAt(CURSOR)).toEqual(position('binlog.000003', 1234));
    expect(positionAt({})).toEqual(position('', 4));
    expect(Object.isFrozen(positionAt(CURSOR))).toBe(true);
  });
});
