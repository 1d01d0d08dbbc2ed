import { describe, expect, it } from 'vitest';
import { fenceToken, type StatementRunner } from '../../src/db/fenceToken.js';
import {
  MARIADB_MASTER_STATUS,
  MYSQL80_MASTER_STATUS,
  MYSQL84_BINARY_LOG_STATUS,
  MYSQL84_GTID_EXECUTED,
  MYSQL84_UUID,
  MYSQL84_UUID2,
  PARSE_ERROR,
  serverError,
} from '../fixtures/sourceServers.js';

const UNKNOWN_VARIABLE = serverError(
  1193,
  'ER_UNKNOWN_SYSTEM_VARIABLE',
  "Unknown system variable 'last_gtid'",
);
const CONNECTION_LOST = Object.assign(
  new Error('Connection lost: The server closed the connection.'),
  {
    code: 'PROTOCOL_CONNECTION_LOST',
    fatal: true,
  },
);

/**
 * A connection that answers each statement from `answers` (rows, as mysql2
 * hands them over, or an error to throw) and records what was sent.
 */
function connection(answers: Record<string, readonly Record<string, unknown>[] | Error>): {
  conn: StatementRunner;
  sent: string[];
} {
  const sent: string[] = [];
  const conn: StatementRunner = {
    query(sql: string) {
      sent.push(sql);
      const answer = answers[sql];
      if (answer === undefined) return Promise.reject(PARSE_ERROR(sql));
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve([answer, []]);
    },
  };
  return { conn, sent };
}

describe('fenceToken: the token of the last commit on a connection', () => {
  it("MariaDB: this session's last GTID, in one statement", async () => {
    const { conn, sent } = connection({ 'SELECT @@last_gtid': [{ '@@last_gtid': '0-1-42' }] });
    expect(await fenceToken(conn)).toBe('0-1-42');
    expect(sent).toEqual(['SELECT @@last_gtid']);
  });

  it('MariaDB before any GTID on the session: the binlog position', async () => {
    const { conn, sent } = connection({
      'SELECT @@last_gtid': [{ '@@last_gtid': '' }],
      'SHOW MASTER STATUS': MARIADB_MASTER_STATUS,
    });
    expect(await fenceToken(conn)).toBe('binlog.000002:101723074');
    expect(sent).toEqual(['SELECT @@last_gtid', 'SHOW MASTER STATUS']);
  });

  it("MySQL: the executed GTID set (it includes the session's commit), without its line breaks", async () => {
    const { conn, sent } = connection({
      'SELECT @@last_gtid': UNKNOWN_VARIABLE,
      'SELECT @@global.gtid_executed': [{ '@@global.gtid_executed': MYSQL84_GTID_EXECUTED }],
    });
    expect(await fenceToken(conn)).toBe(
      `${MYSQL84_UUID2}:1-27,${MYSQL84_UUID}:1-5:11-18:batch_job:1-3`,
    );
    expect(sent).toEqual(['SELECT @@last_gtid', 'SELECT @@global.gtid_executed']);
  });

  it.each([
    [
      '8.0: the position from SHOW MASTER STATUS',
      { 'SHOW MASTER STATUS': MYSQL80_MASTER_STATUS },
      'mysql-bin.000007:4455',
      ['SHOW MASTER STATUS'],
    ],
    [
      '8.4: SHOW MASTER STATUS is gone, SHOW BINARY LOG STATUS answers',
      { 'SHOW BINARY LOG STATUS': MYSQL84_BINARY_LOG_STATUS },
      'binlog.000002:1307',
      ['SHOW MASTER STATUS', 'SHOW BINARY LOG STATUS'],
    ],
  ])('MySQL %s (GTIDs off)', async (_what, status, expected, statusSent) => {
    const { conn, sent } = connection({
      'SELECT @@last_gtid': UNKNOWN_VARIABLE,
      'SELECT @@global.gtid_executed': [{ '@@global.gtid_executed': '' }],
      ...status,
    });
    expect(await fenceToken(conn)).toBe(expected);
    expect(sent).toEqual(['SELECT @@last_gtid', 'SELECT @@global.gtid_executed', ...statusSent]);
  });

  it('no binary log at all (empty status, no GTIDs): the empty token', async () => {
    const { conn, sent } = connection({
      'SELECT @@last_gtid': [{ '@@last_gtid': '' }],
      'SHOW MASTER STATUS': [],
      'SHOW BINARY LOG STATUS': [{ Position: 4 }],
    });
    expect(await fenceToken(conn)).toBe('');
    expect(sent).toEqual(['SELECT @@last_gtid', 'SHOW MASTER STATUS', 'SHOW BINARY LOG STATUS']);
  });

  it('an answer without a row reads as none', async () => {
    const { conn } = connection({
      'SELECT @@last_gtid': [],
      'SHOW MASTER STATUS': MARIADB_MASTER_STATUS,
    });
    expect(await fenceToken(conn)).toBe('binlog.000002:101723074');
  });

  it('a value that is not text reads as none', async () => {
    const { conn } = connection({
      'SELECT @@last_gtid': [{ '@@last_gtid': null }],
      'SHOW MASTER STATUS': MARIADB_MASTER_STATUS,
    });
    expect(await fenceToken(conn)).toBe('binlog.000002:101723074');
  });

  it('any other error of the first statement is the caller’s (a lost connection is not “no GTID”)', async () => {
    const { conn, sent } = connection({ 'SELECT @@last_gtid': CONNECTION_LOST });
    await expect(fenceToken(conn)).rejects.toBe(CONNECTION_LOST);
    expect(sent).toEqual(['SELECT @@last_gtid']);
  });
});
