import type { Connection } from 'mysql2';
import { describe, expect, it } from 'vitest';
import { position } from '../../src/pipeline/position.js';
import { notPrimaryError, PrimaryWatch } from '../../src/pipeline/source/PrimaryWatch.js';
import {
  askServer,
  gtidSeed,
  judgeServer,
  sourceChangedError,
  type ServerAnswer,
  type StartPoint,
} from '../../src/pipeline/source/ServerCheck.js';
import { PROBE_SQL, type ServerProbe } from '../../src/pipeline/source/ServerProbe.js';
import { ManualClock } from '../helpers/manualClock.js';

const MARIA_1 = { kind: 'mariadb', serverId: 1, domainId: 0 } as const;
const MARIA_2 = { kind: 'mariadb', serverId: 2, domainId: 0 } as const;

function probe(identity: ServerProbe['identity'], readOnly = false): ServerProbe {
  return { identity, readOnly, gtidState: '0-1-50,0-2-3', gtidHead: '0-2-3' };
}

function answer(identity: ServerProbe['identity'], gtidThere?: string): ServerAnswer {
  return { probe: probe(identity), gtidThere };
}

const at = (over: Partial<Extract<StartPoint, { kind: 'position' }>> = {}): StartPoint => ({
  kind: 'position',
  position: position('binlog.000001', 30596),
  gtid: '0-1-42',
  server: MARIA_1,
  ...over,
});

describe('judgeServer: a FILE:POS is streamed only from its own server', () => {
  it('its server, whose binlog agrees at that offset: stream', () => {
    expect(judgeServer(at(), answer(MARIA_1, '0-1-42'))).toEqual({
      verdict: 'stream',
      assumed: false,
    });
    // MySQL or an unknown offset: the identity decides alone.
    expect(judgeServer(at(), answer(MARIA_1))).toEqual({ verdict: 'stream', assumed: false });
  });

  it('another server: changed (identity), with the position, its GTIDs and both servers', () => {
    expect(judgeServer(at(), answer(MARIA_2, '0-1-42'))).toEqual({
      verdict: 'changed',
      change: { from: at(), now: probe(MARIA_2), reason: 'identity' },
    });
  });

  it('the same server id with other GTIDs at that offset: changed (binlog)', () => {
    const verdict = judgeServer(at(), answer(MARIA_1, '0-1-7'));
    expect(verdict.verdict === 'changed' && verdict.change.reason).toBe('binlog');
  });

  it('an older checkpoint naming no server: its GTID must still match the binlog there (MariaDB)', () => {
    const verdict = judgeServer(at({ server: undefined }), answer(MARIA_2, '0-2-900'));
    expect(verdict).toEqual({
      verdict: 'changed',
      change: { from: at({ server: undefined }), now: probe(MARIA_2), reason: 'binlog' },
    });
  });

  it('a position naming no server is assumed to be of this one; GTID and end starts belong to none', () => {
    expect(judgeServer(at({ server: undefined }), answer(MARIA_2))).toEqual({
      verdict: 'stream',
      assumed: true,
    });
    expect(judgeServer(at({ server: undefined }), answer(MARIA_2, '0-1-42'))).toEqual({
      verdict: 'stream',
      assumed: true,
    });
    expect(judgeServer({ kind: 'gtid', gtid: '0-1-42' }, answer(MARIA_2))).toEqual({
      verdict: 'stream',
      assumed: false,
    });
    expect(judgeServer({ kind: 'end' }, answer(MARIA_2))).toEqual({
      verdict: 'stream',
      assumed: false,
    });
  });

  it('only a MariaDB binlog is checked at the offset: a MySQL server of the position streams', () => {
    const mysql = { kind: 'mysql', serverId: 1, uuid: 'u' } as const;
    expect(
      judgeServer(at({ server: mysql, gtid: 'u:1-5' }), { probe: probe(mysql), gtidThere: 'x' }),
    ).toEqual({ verdict: 'stream', assumed: false });
  });
});

describe('gtidSeed: where the GTID tracker starts', () => {
  it('a GTID start, the head for an end start, MariaDB’s own answer at a position, else the stored GTIDs', () => {
    expect(gtidSeed({ kind: 'gtid', gtid: '0-1-9' }, answer(MARIA_1, '0-1-5'))).toBe('0-1-9');
    expect(gtidSeed({ kind: 'end' }, answer(MARIA_1))).toBe('0-2-3');
    expect(gtidSeed(at(), answer(MARIA_1, '0-1-42,1-1-5'))).toBe('0-1-42,1-1-5');
    expect(gtidSeed(at(), answer(MARIA_1))).toBe('0-1-42');
    const mysql = { kind: 'mysql', serverId: 1, uuid: 'u' } as const;
    expect(gtidSeed(at({ gtid: 'u:1-5' }), answer(mysql, 'ignored'))).toBe('u:1-5');
  });
});

/** A connection that answers each statement from `answers` (an Error fails it), in order. */
function fakeConnection(answers: Record<string, unknown>): Connection & { statements: string[] } {
  const statements: string[] = [];
  const conn = {
    statements,
    query(sql: string, ...rest: unknown[]): void {
      statements.push(sql);
      const cb = rest.at(-1) as (err: unknown, rows?: unknown) => void;
      const key = Object.keys(answers).find((k) => sql.startsWith(k));
      const a = key === undefined ? new Error(`unexpected ${sql}`) : answers[key];
      queueMicrotask(() => (a instanceof Error ? cb(a) : cb(null, a)));
    },
  };
  return conn as unknown as Connection & { statements: string[] };
}

const MARIADB_ROWS = [
  { Variable_name: 'server_id', Value: '2' },
  { Variable_name: 'gtid_domain_id', Value: '0' },
  { Variable_name: 'version', Value: '10.11.19-MariaDB' },
  { Variable_name: 'gtid_binlog_pos', Value: '0-2-3' },
  { Variable_name: 'gtid_binlog_state', Value: '0-1-50,0-2-3' },
  { Variable_name: 'read_only', Value: 'OFF' },
];

describe('askServer: the questions queued on the binlog connection', () => {
  it('a position start: the probe and BINLOG_GTID_POS, one answer', async () => {
    const conn = fakeConnection({
      'SHOW GLOBAL VARIABLES': MARIADB_ROWS,
      'SELECT BINLOG_GTID_POS': [{ g: '0-2-1' }],
    });
    const answers: unknown[] = [];
    await new Promise<void>((resolve) =>
      askServer(conn, at(), (err, a) => {
        answers.push(err ?? a);
        resolve();
      }),
    );
    expect(conn.statements).toEqual([PROBE_SQL, 'SELECT BINLOG_GTID_POS(?, ?) AS g']);
    expect(answers).toEqual([{ probe: probe(MARIA_2), gtidThere: '0-2-1' }]);
  });

  it('MySQL refuses BINLOG_GTID_POS: answered without it; an end start asks only the probe', async () => {
    const refused = Object.assign(new Error('FUNCTION BINLOG_GTID_POS does not exist'), {
      errno: 1305,
    });
    const conn = fakeConnection({
      'SHOW GLOBAL VARIABLES': MARIADB_ROWS,
      'SELECT BINLOG': refused,
    });
    const a = await new Promise<ServerAnswer | undefined>((resolve) =>
      askServer(conn, at(), (_err, answer) => resolve(answer)),
    );
    expect(a?.gtidThere).toBeUndefined();
    const end = fakeConnection({ 'SHOW GLOBAL VARIABLES': MARIADB_ROWS });
    await new Promise<void>((resolve) => askServer(end, { kind: 'end' }, () => resolve()));
    expect(end.statements).toEqual([PROBE_SQL]);
  });

  it('BINLOG_GTID_POS answering no row: answered without it', async () => {
    const conn = fakeConnection({
      'SHOW GLOBAL VARIABLES': MARIADB_ROWS,
      'SELECT BINLOG_GTID_POS': [],
    });
    const a = await new Promise<ServerAnswer | undefined>((resolve) =>
      askServer(conn, at(), (_err, answer) => resolve(answer)),
    );
    expect(a).toEqual({ probe: probe(MARIA_2), gtidThere: undefined });
  });

  it('a failed probe is the one error reported', async () => {
    const conn = fakeConnection({
      'SHOW GLOBAL VARIABLES': new Error('gone'),
      'SELECT BINLOG_GTID_POS': [{ g: '0-2-1' }],
    });
    const calls: unknown[] = [];
    await new Promise<void>((resolve) => {
      askServer(conn, at(), (err) => calls.push(err?.message));
      setTimeout(resolve, 0);
    });
    expect(calls).toEqual(['gone']);
  });
});

describe('PrimaryWatch: several hosts, the server in use must stay the primary', () => {
  it('asks read_only every period and reports a demotion once', () => {
    const clock = new ManualClock();
    let readOnly = 0;
    let failed = false;
    const conn = {
      asked: 0,
      query(_sql: string, cb: (err: unknown, rows?: unknown) => void): void {
        this.asked++;
        cb(failed ? new Error('lost') : null, [{ ro: readOnly }]);
      },
    };
    let demoted = 0;
    const watch = new PrimaryWatch(
      1000,
      clock,
      () => conn as unknown as Connection,
      () => demoted++,
    );
    watch.start();
    clock.advance(999);
    expect(conn.asked).toBe(0);
    clock.advance(1);
    expect([conn.asked, demoted]).toEqual([1, 0]);
    failed = true; // a lost connection is not a demotion
    readOnly = 1;
    clock.advance(1000);
    expect([conn.asked, demoted]).toEqual([2, 0]);
    failed = false;
    clock.advance(1000);
    expect([conn.asked, demoted]).toEqual([3, 1]);
    clock.advance(5000);
    expect([conn.asked, demoted]).toEqual([3, 1]);
  });

  it('asks @@GLOBAL.read_only; an answer after stop(), or with no row, is no demotion', () => {
    const clock = new ManualClock();
    const asked: string[] = [];
    const pending: Array<(err: unknown, rows?: unknown) => void> = [];
    const conn = {
      query(sql: string, cb: (err: unknown, rows?: unknown) => void): void {
        asked.push(sql);
        pending.push(cb);
      },
    } as unknown as Connection;
    let demoted = 0;
    const watch = new PrimaryWatch(
      1000,
      clock,
      () => conn,
      () => demoted++,
    );
    watch.start();
    clock.advance(1000);
    expect(asked).toEqual(['SELECT @@GLOBAL.read_only AS ro']);
    pending.shift()?.(null, []);
    expect(demoted).toBe(0);
    clock.advance(1000);
    watch.stop();
    pending.shift()?.(null, [{ ro: 1 }]);
    expect(demoted).toBe(0);
  });

  it('stopped, or without a connection, it asks nothing', () => {
    const clock = new ManualClock();
    let asked = 0;
    const conn = { query: () => asked++ } as unknown as Connection;
    const none = new PrimaryWatch(
      1000,
      clock,
      () => null,
      () => undefined,
    );
    none.start();
    clock.advance(3000);
    const watch = new PrimaryWatch(
      1000,
      clock,
      () => conn,
      () => undefined,
    );
    watch.start();
    watch.stop();
    clock.advance(3000);
    expect(asked).toBe(0);
  });
});

describe('sourceChangedError: a changed server nobody handles', () => {
  it('E_SOURCE_CHANGED naming the host, both servers and the position, with the reason', () => {
    const from = at() as Extract<StartPoint, { kind: 'position' }>;
    const error = sourceChangedError({
      from,
      now: probe(MARIA_2),
      host: 'db2:3306',
      reason: 'identity',
    });
    expect(error.code).toBe('E_SOURCE_CHANGED');
    expect(error.message).toBe(
      'db2:3306 is mariadb server_id 2 (domain 0), not mariadb server_id 1 (domain 0) where binlog.000001:30596 belongs',
    );
    expect(error.details).toEqual({ reason: 'identity' });
    const blind = sourceChangedError({
      from: { kind: 'position', position: position('binlog.000001', 4) },
      now: probe(MARIA_1),
      host: 'db1:3306',
      reason: 'binlog',
    });
    expect(blind.message).toBe(
      'db1:3306 is mariadb server_id 1 (domain 0), not a server it does not record where binlog.000001:4 belongs',
    );
    expect(blind.details).toEqual({ reason: 'binlog' });
  });
});

describe('notPrimaryError: the server in use was demoted', () => {
  it('E_SOURCE_CONNECT naming the host', () => {
    const error = notPrimaryError('db1:3306');
    expect(error.code).toBe('E_SOURCE_CONNECT');
    expect(error.message).toBe(
      'db1:3306 is read-only (no longer the primary): looking for the primary among the source hosts',
    );
    expect(error.details).toEqual({ host: 'db1:3306' });
  });
});
