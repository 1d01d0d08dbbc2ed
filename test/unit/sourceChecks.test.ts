import { describe, expect, it } from 'vitest';
import { formatChecks } from '../../src/cli/checkSource.js';
import {
  evaluateSourceChecks,
  globalPrivilegesOf,
  type SourceCheck,
  type SourceFacts,
} from '../../src/source-admin/sourceChecks.js';
import { parseFlavor } from '../../src/source-admin/ServerInfo.js';

const config = { source: { serverId: 4101 }, rules: [{ table: 'app.users' }] };

function facts(over: Partial<SourceFacts> = {}, vars: Record<string, string> = {}): SourceFacts {
  return {
    flavor: parseFlavor('10.11.19-MariaDB-log'),
    variables: new Map(
      Object.entries({
        log_bin: 'ON',
        binlog_format: 'ROW',
        binlog_row_image: 'FULL',
        binlog_row_metadata: 'FULL',
        server_id: '1',
        expire_logs_days: '0.000000',
        binlog_expire_logs_seconds: '0',
        gtid_domain_id: '0',
        read_only: 'OFF',
        gtid_binlog_pos: '0-1-4',
        gtid_binlog_state: '0-1-4',
        ...vars,
      }),
    ),
    user: "'sluice'@'%'",
    globalPrivileges: new Set(['SELECT', 'REPLICATION SLAVE', 'BINLOG MONITOR']),
    canListBinlogs: true,
    select: new Map([['app.users', null]]),
    replicaIds: null,
    ...over,
  };
}

function byId(checks: readonly SourceCheck[]): Record<string, SourceCheck> {
  return Object.fromEntries(checks.map((c) => [c.id, c]));
}

describe('check-source checks', () => {
  it('a well configured MariaDB passes everything (replica list not permitted: skipped)', () => {
    const checks = evaluateSourceChecks(facts(), config);
    expect(checks.map((c) => `${c.id}:${c.status}`)).toEqual([
      'log_bin:pass',
      'binlog_format:pass',
      'binlog_row_image:pass',
      'binlog_row_metadata:pass',
      'server_id:pass',
      'replica_ids:skip',
      'grant_replication_slave:pass',
      'grant_binlog_monitor:pass',
      'grant_select:pass',
      'retention:pass',
      'server:pass',
      'gtid:pass',
    ]);
    expect(formatChecks(checks).at(-1)).toBe('ok: 12 checks, 0 warnings');
  });

  it('names the server that answered: identity, host and primary, and whether GTIDs lead a failover', () => {
    const c = byId(evaluateSourceChecks(facts({ host: 'db1:3306' }), config));
    expect(c.server).toEqual({
      id: 'server',
      status: 'pass',
      message: 'db1:3306 is mariadb server_id 1 (domain 0), a primary (read_only off)',
    });
    expect(c.gtid?.message).toBe(
      'GTIDs on (0-1-4): a failover to a replica that logs what it applies is followed by GTID',
    );
  });

  it('a read-only server (a replica) warns: its binlog stops when the primary fails', () => {
    const c = byId(evaluateSourceChecks(facts({ host: 'db2:3306' }, { read_only: 'ON' }), config));
    expect(c.server?.status).toBe('warn');
    expect(c.server?.message).toBe(
      'db2:3306 is mariadb server_id 1 (domain 0), read-only (a replica): its binlog stops moving when its primary fails',
    );
  });

  it('MySQL without GTIDs warns that a failover stops the daemon (E_SOURCE_CHANGED)', () => {
    const mysql = facts(
      { flavor: parseFlavor('8.4.3') },
      { gtid_mode: 'OFF', server_uuid: '3e11fa47-71ca-11e1-9e33-c80aa9429562' },
    );
    const c = byId(evaluateSourceChecks(mysql, config));
    expect(c.gtid?.status).toBe('warn');
    expect(c.gtid?.message).toContain('E_SOURCE_CHANGED');
    expect(c.server?.message).toBe(
      'the server is mysql 3e11fa47-71ca-11e1-9e33-c80aa9429562 (server_id 1), a primary (read_only off)',
    );
  });

  it('MINIMAL row metadata fails with the command-line fix', () => {
    const c = byId(evaluateSourceChecks(facts({}, { binlog_row_metadata: 'MINIMAL' }), config));
    expect(c.binlog_row_metadata?.status).toBe('fail');
    expect(c.binlog_row_metadata?.message).toContain(
      'binlog_row_metadata is MINIMAL, must be FULL',
    );
    expect(c.binlog_row_metadata?.fix).toContain("SET GLOBAL binlog_row_metadata = 'FULL'");
    expect(c.binlog_row_metadata?.fix).toContain('--binlog-row-metadata=FULL');
  });

  it('servers without binlog_row_metadata (MariaDB < 10.5, MySQL < 8.0.1) fail', () => {
    const old = facts({ flavor: parseFlavor('10.4.30-MariaDB') });
    const vars = new Map(old.variables);
    vars.delete('binlog_row_metadata');
    const c = byId(evaluateSourceChecks({ ...old, variables: vars }, config));
    expect(c.binlog_row_metadata?.status).toBe('fail');
    expect(c.binlog_row_metadata?.fix).toContain('MariaDB >= 10.5 or MySQL >= 8.0.1');
  });

  it('binlog off, STATEMENT format and MINIMAL image fail', () => {
    const c = byId(
      evaluateSourceChecks(
        facts({}, { log_bin: 'OFF', binlog_format: 'STATEMENT', binlog_row_image: 'MINIMAL' }),
        config,
      ),
    );
    expect(c.log_bin?.status).toBe('fail');
    expect(c.binlog_format?.message).toContain('binlog_format is STATEMENT, must be ROW');
    expect(c.binlog_row_image?.status).toBe('fail');
  });

  it('a replica id equal to the server own id or to a registered replica fails', () => {
    expect(
      byId(evaluateSourceChecks(facts({}, { server_id: '4101' }), config)).server_id?.status,
    ).toBe('fail');
    const c = byId(evaluateSourceChecks(facts({ replicaIds: [2, 4101] }), config));
    expect(c.replica_ids?.status).toBe('fail');
    expect(byId(evaluateSourceChecks(facts({ replicaIds: [2] }), config)).replica_ids?.status).toBe(
      'pass',
    );
  });

  it('missing grants fail with the GRANT statement; a missing table says so', () => {
    const c = byId(
      evaluateSourceChecks(
        facts({
          globalPrivileges: new Set(['SELECT']),
          canListBinlogs: false,
          select: new Map([
            ['app.users', { error: 'SELECT command denied', missing: false }],
            ['app.gone', { error: "Table 'app.gone' doesn't exist", missing: true }],
          ]),
        }),
        config,
      ),
    );
    expect(c.grant_replication_slave?.fix).toBe("GRANT REPLICATION SLAVE ON *.* TO 'sluice'@'%';");
    expect(c.grant_binlog_monitor?.fix).toBe("GRANT BINLOG MONITOR ON *.* TO 'sluice'@'%';");
    expect(c.grant_select?.fix).toBe(
      "GRANT SELECT ON `app`.`users` TO 'sluice'@'%'; create app.gone or correct the rule that names it;",
    );
  });

  it('MySQL wording: REPLICATION CLIENT; ALL PRIVILEGES covers replication', () => {
    const c = byId(
      evaluateSourceChecks(
        facts({
          flavor: parseFlavor('8.4.3'),
          globalPrivileges: new Set(['ALL PRIVILEGES']),
          canListBinlogs: false,
        }),
        config,
      ),
    );
    expect(c.grant_replication_slave?.status).toBe('pass');
    expect(c.grant_binlog_monitor?.fix).toContain('REPLICATION CLIENT');
  });

  it('retention: never purged passes, under a day warns, days pass', () => {
    const r = (vars: Record<string, string>): SourceCheck | undefined =>
      byId(evaluateSourceChecks(facts({}, vars), config)).retention;
    expect(r({})?.status).toBe('pass');
    expect(r({ binlog_expire_logs_seconds: '3600' })).toMatchObject({ status: 'warn' });
    expect(r({ binlog_expire_logs_seconds: '3600' })?.message).toContain('1 hours');
    expect(r({ expire_logs_days: '7.000000' })?.message).toBe('binary logs are kept 7 days');
    const warned = formatChecks(
      evaluateSourceChecks(facts({}, { binlog_expire_logs_seconds: '60' }), config),
    );
    expect(warned.at(-1)).toBe('ok: 12 checks, 1 warning');
  });

  it('reads the global privileges of SHOW GRANTS, never other lines', () => {
    expect(
      globalPrivilegesOf([
        "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `sluice`@`%` IDENTIFIED BY PASSWORD '*77'",
        'GRANT ALL PRIVILEGES ON `app`.* TO `sluice`@`%`',
      ]),
    ).toEqual(new Set(['SELECT', 'REPLICATION SLAVE', 'BINLOG MONITOR']));
  });
});
