import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/errors.js';
import { checkConfig, parseStartFrom } from '../../src/config/schema.js';
import { formatPosition } from '../../src/pipeline/position.js';
import {
  evaluateSourceChecks,
  gatherSourceFacts,
  type SourceCheck,
} from '../../src/source-admin/sourceChecks.js';
import { ServerInfo, parseFlavor } from '../../src/source-admin/ServerInfo.js';
import {
  FakeServerConnection,
  MARIADB_MASTER_STATUS,
  MYSQL80_MASTER_STATUS,
  MYSQL84_BINARY_LOGS,
  MYSQL84_BINARY_LOG_STATUS,
  MYSQL84_GRANTS,
  MYSQL84_GTID_EXECUTED,
  MYSQL84_REPLICAS,
  MYSQL84_UUID,
  MYSQL84_UUID2,
  MYSQL84_VARIABLES,
  PARSE_ERROR,
  serverError,
  type Answer,
} from '../fixtures/sourceServers.js';

/**
 * MySQL 8.x next to MariaDB, with recorded server answers (only MariaDB runs
 * here): GTID sets in `source.startFrom`, binlog head detection across the
 * 8.4 rename of SHOW MASTER STATUS, and `check-source` on a MySQL 8.4 server.
 */

describe('source.startFrom: gtid:SET with MySQL GTID sets', () => {
  it.each([
    ['one uuid, one interval', `${MYSQL84_UUID}:1-42`, `${MYSQL84_UUID}:1-42`],
    ['a single transaction', `${MYSQL84_UUID}:42`, `${MYSQL84_UUID}:42`],
    ['several intervals', `${MYSQL84_UUID}:1-5:11-18`, `${MYSQL84_UUID}:1-5:11-18`],
    [
      'several uuids as @@gtid_executed prints them (",\\n")',
      MYSQL84_GTID_EXECUTED,
      `${MYSQL84_UUID2}:1-27,${MYSQL84_UUID}:1-5:11-18:batch_job:1-3`,
    ],
    ['a tagged GTID (8.3+)', `${MYSQL84_UUID}:batch_job:7`, `${MYSQL84_UUID}:batch_job:7`],
    [
      'tags after untagged intervals, several tags',
      `${MYSQL84_UUID}:1-5:Tag_A:1-3:_b2:4`,
      `${MYSQL84_UUID}:1-5:Tag_A:1-3:_b2:4`,
    ],
    [
      'upper-case uuid (as older servers print it)',
      '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5',
      '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5',
    ],
    ['the largest transaction number', `${MYSQL84_UUID}:1-9223372036854775807`, null],
    ['MariaDB positions still parse', ' 0-1-42, 1-2-7 ', '0-1-42,1-2-7'],
  ])('accepts %s', (_what, set, normalised) => {
    expect(parseStartFrom(`gtid:${set}`)).toEqual({ kind: 'gtid', gtid: normalised ?? set });
  });

  it.each([
    [`${MYSQL84_UUID}`, 'has no transaction interval (uuid:1-42)'],
    [`${MYSQL84_UUID}:0`, '"0" in '],
    [`${MYSQL84_UUID}:5-3`, 'ends before it starts'],
    [`${MYSQL84_UUID}:9223372036854775808`, 'is not a transaction number or range (1 to 2^63-1)'],
    [`${MYSQL84_UUID}:1-2-3`, '"1-2-3" in'],
    [`${MYSQL84_UUID}:batch_job`, 'tag "batch_job" has no interval'],
    [`${MYSQL84_UUID}:1-5:tag_a:tag_b:1`, 'tag "tag_a" has no interval'],
    [`${MYSQL84_UUID}:1:${'t'.repeat(33)}:1`, `"${'t'.repeat(33)}" in`],
    ['3e11fa47-71ca-11e1-9e33:1-5', 'is not a server uuid'],
    [`${MYSQL84_UUID}:1-5,,${MYSQL84_UUID2}:1`, 'empty entry between commas'],
    [`0-1-42,${MYSQL84_UUID}:1-5`, 'mixes MariaDB GTIDs (domain-server-seq) and MySQL'],
    ['0-1-42,0-2-50', 'domain 0 appears twice'],
    ['0-1', 'is neither a MariaDB GTID'],
    ['0-4294967296-1', 'out of range'],
  ])('rejects gtid:%s with E_POSITION_INVALID', (set, why) => {
    const err = thrown(() => parseStartFrom(`gtid:${set}`));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toMatch(/^source\.startFrom: ".*" is not a GTID set: /s);
    expect(err.message).toContain(why);
  });

  it('a bad set is reported at source.startFrom by config validation (exit 2)', () => {
    const result = checkConfig({
      source: { url: 'mysql://u@h/db', startFrom: `gtid:${MYSQL84_UUID}:0` },
      redis: { url: 'redis://h' },
      rules: [{ table: 'a.b', keys: ['k:{id}'] }],
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues).toEqual([
      {
        path: 'source.startFrom',
        message: `"${MYSQL84_UUID}:0" is not a GTID set: "0" in "${MYSQL84_UUID}:0" is not a transaction number or range (1 to 2^63-1)`,
      },
    ]);
  });
});

/** A ServerInfo over canned answers; `version` as `SELECT VERSION()` prints it. */
function serverWith(
  version: string,
  answers: Record<string, Answer>,
): { server: ServerInfo; conn: FakeServerConnection } {
  const conn = new FakeServerConnection(answers);
  return { server: ServerInfo.over(conn.asConnection(), parseFlavor(version)), conn };
}

describe('binlog head: SHOW BINARY LOG STATUS (MySQL ≥ 8.2) or SHOW MASTER STATUS', () => {
  it('MySQL 8.4: reads File and Position of SHOW BINARY LOG STATUS and never sends SHOW MASTER STATUS', async () => {
    const { server, conn } = serverWith('8.4.3', {
      'SHOW BINARY LOG STATUS': MYSQL84_BINARY_LOG_STATUS,
      'SHOW MASTER STATUS': PARSE_ERROR('MASTER STATUS'), // removed in 8.4
    });
    const head = await server.head();
    expect(head === null ? null : formatPosition(head)).toBe('binlog.000002:1307');
    expect(conn.statements).toEqual(['SHOW BINARY LOG STATUS']);
  });

  it('MySQL 8.0: SHOW BINARY LOG STATUS is a parse error, SHOW MASTER STATUS answers', async () => {
    const { server, conn } = serverWith('8.0.36', {
      'SHOW BINARY LOG STATUS': PARSE_ERROR('BINARY LOG STATUS'),
      'SHOW MASTER STATUS': MYSQL80_MASTER_STATUS,
    });
    const head = await server.head();
    expect(head === null ? null : formatPosition(head)).toBe('mysql-bin.000007:4455');
    expect(conn.statements).toEqual(['SHOW BINARY LOG STATUS', 'SHOW MASTER STATUS']);
  });

  it('MariaDB 10.11: the same fallback (recorded answer: no Executed_Gtid_Set column)', async () => {
    const { server } = serverWith('10.11.19-MariaDB-0+deb12u1-log', {
      'SHOW BINARY LOG STATUS': PARSE_ERROR('LOG STATUS'),
      'SHOW MASTER STATUS': MARIADB_MASTER_STATUS,
    });
    const head = await server.head();
    expect(head === null ? null : formatPosition(head)).toBe('binlog.000002:101723074');
  });

  it('binary logging off: an empty answer is null, not a position', async () => {
    const { server } = serverWith('8.4.3', { 'SHOW BINARY LOG STATUS': [] });
    expect(await server.head()).toBeNull();
  });

  it('a missing REPLICATION CLIENT grant is an error, not a reason to try the old statement', async () => {
    const denied = serverError(
      1227,
      'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      'Access denied; you need (at least one of) the SUPER, REPLICATION CLIENT privilege(s) for this operation',
    );
    const { server, conn } = serverWith('8.4.3', { 'SHOW BINARY LOG STATUS': denied });
    await expect(server.head()).rejects.toBe(denied);
    expect(conn.statements).toEqual(['SHOW BINARY LOG STATUS']);
  });
});

describe('check-source on MySQL 8.4', () => {
  const config = { source: { serverId: 4101 }, rules: [{ table: 'app.users' }] };

  /** A MySQL 8.4 server as docker-compose.yml runs it, with `over` replacing answers. */
  async function checks84(over: Record<string, Answer> = {}): Promise<{
    checks: Record<string, SourceCheck>;
    statements: string[];
  }> {
    const { server, conn } = serverWith('8.4.3', {
      'SHOW GLOBAL VARIABLES': MYSQL84_VARIABLES,
      'SELECT CURRENT_USER()': [{ u: 'sluice@%' }],
      'SHOW GRANTS': MYSQL84_GRANTS,
      'SHOW BINARY LOGS': MYSQL84_BINARY_LOGS,
      'SELECT 1 FROM `app`.`users`': [],
      'SHOW REPLICAS': MYSQL84_REPLICAS,
      ...over,
    });
    const facts = await gatherSourceFacts(server, ['app.users']);
    const list = evaluateSourceChecks(facts, config);
    return {
      checks: Object.fromEntries(list.map((c) => [c.id, c])),
      statements: conn.statements,
    };
  }

  function variables(changes: Record<string, string | null>): Answer {
    const rows = MYSQL84_VARIABLES.filter((r) => !(r.Variable_name in changes));
    for (const [name, value] of Object.entries(changes)) {
      if (value !== null) rows.push({ Variable_name: name, Value: value });
    }
    return rows;
  }

  it('the compose server passes every check, with MySQL statements and wording', async () => {
    const { checks, statements } = await checks84();
    expect(Object.values(checks).map((c) => `${c.id}:${c.status}`)).toEqual([
      'log_bin:pass',
      'binlog_format:pass',
      'binlog_row_image:pass',
      'binlog_row_metadata:pass',
      'server_id:pass',
      'replica_ids:pass',
      'grant_replication_slave:pass',
      'grant_binlog_monitor:pass',
      'grant_select:pass',
      'retention:pass',
      'server:pass',
      'gtid:pass',
    ]);
    expect(checks.server?.message).toBe(
      `the server is mysql ${MYSQL84_UUID} (server_id 1), a primary (read_only off)`,
    );
    expect(checks.grant_binlog_monitor?.message).toBe(
      "'sluice'@'%' can list binary logs (REPLICATION CLIENT)",
    );
    expect(checks.replica_ids?.message).toBe(
      'no registered replica uses server id 4101 (1 registered)',
    );
    // expire_logs_days is gone in 8.4: binlog_expire_logs_seconds (default 30 days) decides.
    expect(checks.retention?.message).toBe('binary logs are kept 30 days');
    expect(statements).toContain('SHOW REPLICAS');
    expect(statements).not.toContain('SHOW SLAVE HOSTS');
  });

  it("MySQL's default binlog_row_metadata=MINIMAL fails, with the my.cnf fix", async () => {
    const { checks } = await checks84({
      'SHOW GLOBAL VARIABLES': variables({ binlog_row_metadata: 'MINIMAL' }),
    });
    expect(checks.binlog_row_metadata?.status).toBe('fail');
    expect(checks.binlog_row_metadata?.fix).toContain('--binlog-row-metadata=FULL');
    expect(checks.binlog_row_metadata?.fix).toContain(
      'binlog_row_metadata = FULL in my.cnf [mysqld]',
    );
  });

  it('without REPLICATION CLIENT the grant check fails with the MySQL GRANT statement', async () => {
    const { checks } = await checks84({
      'SHOW GRANTS': [
        { 'Grants for sluice@%': 'GRANT SELECT, REPLICATION SLAVE ON *.* TO `sluice`@`%`' },
      ],
      'SHOW BINARY LOGS': serverError(
        1227,
        'ER_SPECIFIC_ACCESS_DENIED_ERROR',
        'Access denied; you need (at least one of) the SUPER, REPLICATION CLIENT privilege(s) for this operation',
      ),
    });
    expect(checks.grant_replication_slave?.status).toBe('pass');
    expect(checks.grant_binlog_monitor).toEqual({
      id: 'grant_binlog_monitor',
      status: 'fail',
      message: "'sluice'@'%' cannot run SHOW BINARY LOGS / SHOW BINARY LOG STATUS",
      fix: "GRANT REPLICATION CLIENT ON *.* TO 'sluice'@'%';",
    });
  });

  it('without REPLICATION SLAVE the binlog cannot be read', async () => {
    const { checks } = await checks84({
      'SHOW GRANTS': [
        { 'Grants for sluice@%': 'GRANT SELECT, REPLICATION CLIENT ON *.* TO `sluice`@`%`' },
      ],
      'SHOW REPLICAS': serverError(
        1227,
        'ER_SPECIFIC_ACCESS_DENIED_ERROR',
        'Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation',
      ),
    });
    expect(checks.grant_replication_slave?.fix).toBe(
      "GRANT REPLICATION SLAVE ON *.* TO 'sluice'@'%';",
    );
    expect(checks.replica_ids?.status).toBe('skip');
  });

  it('binlog_expire_logs_seconds under a day warns (E_POSITION_LOST risk)', async () => {
    const { checks } = await checks84({
      'SHOW GLOBAL VARIABLES': variables({ binlog_expire_logs_seconds: '3600' }),
    });
    expect(checks.retention?.status).toBe('warn');
    expect(checks.retention?.message).toContain('binary logs expire after 1 hours');
    expect(checks.retention?.fix).toContain(
      'binlog_expire_logs_seconds = 604800 in my.cnf [mysqld]',
    );
  });

  it('a registered replica using source.serverId fails', async () => {
    const { checks } = await checks84({
      'SHOW REPLICAS': [{ ...MYSQL84_REPLICAS[0], Server_Id: 4101 }],
    });
    expect(checks.replica_ids?.status).toBe('fail');
  });

  it('MySQL 8.0.0 has no binlog_row_metadata: fails with the upgrade fix', async () => {
    const { server } = serverWith('8.0.0-dmr-log', {
      'SHOW GLOBAL VARIABLES': variables({ binlog_row_metadata: null }),
      'SELECT CURRENT_USER()': [{ u: 'sluice@%' }],
      'SHOW GRANTS': MYSQL84_GRANTS,
      'SHOW BINARY LOGS': MYSQL84_BINARY_LOGS,
      'SELECT 1 FROM `app`.`users`': [],
    });
    const checks = evaluateSourceChecks(await gatherSourceFacts(server, ['app.users']), config);
    const metadata = checks.find((c) => c.id === 'binlog_row_metadata');
    expect(metadata?.status).toBe('fail');
    expect(metadata?.fix).toContain('MySQL >= 8.0.1');
    // SHOW REPLICAS (8.0.22+) unknown → SHOW SLAVE HOSTS, also unanswered here → skipped.
    expect(checks.find((c) => c.id === 'replica_ids')?.status).toBe('skip');
  });
});
