import { describeServer } from '../pipeline/ServerIdentity.js';
import { parseProbe, PROBE_VARIABLES } from '../pipeline/source/ServerProbe.js';
import {
  ServerInfo,
  compareVersions,
  errnoOf,
  isAccessDenied,
  type ServerFlavor,
} from './ServerInfo.js';

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** The outcome of one check of the source server. */
export interface SourceCheck {
  /** Stable id, e.g. `binlog_row_metadata`, `grant_select`. */
  readonly id: string;
  readonly status: CheckStatus;
  /** What was found, in one sentence. */
  readonly message: string;
  /** How to fix a failure or warning. */
  readonly fix?: string;
}

/** What the checks need from the configuration (a SluiceConfig fits). */
export interface SourceCheckConfig {
  readonly source: { readonly serverId: number };
  readonly rules: readonly { readonly table: string }[];
}

/** Everything the checks look at, gathered from the server first (see gatherSourceFacts). */
export interface SourceFacts {
  readonly flavor: ServerFlavor;
  /** Global variables, lower-case names; a variable the server lacks is absent. */
  readonly variables: ReadonlyMap<string, string>;
  /** `'user'@'host'` as the server knows the connected user. */
  readonly user: string;
  /** The privileges granted ON *.* (upper case), or null when SHOW GRANTS failed. */
  readonly globalPrivileges: ReadonlySet<string> | null;
  /** Whether SHOW BINARY LOGS works (BINLOG MONITOR / REPLICATION CLIENT). */
  readonly canListBinlogs: boolean;
  /** Per mapped table: null when SELECT works, else the server's error and whether the table is missing. */
  readonly select: ReadonlyMap<
    string,
    { readonly error: string; readonly missing: boolean } | null
  >;
  /** Server ids of registered replicas, or null when the user may not list them. */
  readonly replicaIds: readonly number[] | null;
  /** `host:port` of the server checked (with several source hosts: the primary among them). */
  readonly host?: string;
}

const VARIABLES = [
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'binlog_row_metadata',
  'server_id',
  'expire_logs_days',
  'binlog_expire_logs_seconds',
  ...PROBE_VARIABLES,
];

const DAY_S = 86_400;
const ER_NO_SUCH_TABLE = 1146;

/**
 * Checks that the source server can feed Sluice: binary logging on, ROW
 * format, FULL row image, FULL row metadata, a replica id of our own, the
 * grants the daemon's user needs, and binlog retention. Never throws for a
 * server problem: a connection failure is reported as a failed `connect`
 * check. `sluice check-source` prints the result; `sluice run` runs it at
 * start-up.
 */
export async function checkSource(url: string, config: SourceCheckConfig): Promise<SourceCheck[]> {
  let server: ServerInfo;
  try {
    server = await ServerInfo.connect(url);
  } catch (err) {
    return [
      {
        id: 'connect',
        status: 'fail',
        message: (err as Error).message,
        fix: 'check source.url (host, port, user, password) and that the server accepts TCP connections',
      },
    ];
  }
  try {
    const tables = [...new Set(config.rules.map((r) => r.table))];
    return evaluateSourceChecks(await gatherSourceFacts(server, tables), config);
  } finally {
    await server.close();
  }
}

/** Reads what the checks need; only statements the daemon's own user may run. */
export async function gatherSourceFacts(
  server: ServerInfo,
  tables: readonly string[],
): Promise<SourceFacts> {
  const variables = await server.variables(VARIABLES);
  const [me] = await server.query('SELECT CURRENT_USER() AS u');
  const user = quoteUser(String(me?.u ?? ''));

  let globalPrivileges: Set<string> | null = null;
  try {
    globalPrivileges = globalPrivilegesOf(await server.grants());
  } catch {
    globalPrivileges = null;
  }

  let canListBinlogs = true;
  try {
    await server.query('SHOW BINARY LOGS');
  } catch (err) {
    // 1381: binary logging is off, which the log_bin check reports.
    canListBinlogs = errnoOf(err) === 1381;
  }

  const select = new Map<string, { error: string; missing: boolean } | null>();
  for (const table of tables) {
    const dot = table.indexOf('.');
    try {
      await server.query(
        `SELECT 1 FROM ${quoteIdent(table.slice(0, dot))}.${quoteIdent(table.slice(dot + 1))} LIMIT 0`,
      );
      select.set(table, null);
    } catch (err) {
      select.set(table, {
        error: (err as Error).message,
        missing: errnoOf(err) === ER_NO_SUCH_TABLE,
      });
    }
  }

  let replicaIds: number[] | null = null;
  const statements =
    server.flavor.kind === 'mysql' ? ['SHOW REPLICAS', 'SHOW SLAVE HOSTS'] : ['SHOW SLAVE HOSTS'];
  for (const sql of statements) {
    try {
      const rows = await server.query(sql);
      replicaIds = rows.map((r) => Number(r.Server_id ?? r.Server_Id));
      break;
    } catch (err) {
      if (!isAccessDenied(err) && errnoOf(err) !== 1064) throw err;
    }
  }

  return {
    host: server.host,
    flavor: server.flavor,
    variables,
    user,
    globalPrivileges,
    canListBinlogs,
    select,
    replicaIds,
  };
}

/** The checks, from gathered facts. Pure. */
export function evaluateSourceChecks(facts: SourceFacts, config: SourceCheckConfig): SourceCheck[] {
  const v = facts.variables;
  const mysql = facts.flavor.kind === 'mysql';
  const cnf = mysql ? 'my.cnf [mysqld]' : 'the server config file ([mariadbd])';
  const out: SourceCheck[] = [];

  const logBin = v.get('log_bin');
  out.push(
    logBin === 'ON' || logBin === '1'
      ? { id: 'log_bin', status: 'pass', message: 'binary logging is on' }
      : {
          id: 'log_bin',
          status: 'fail',
          message: `binary logging is off (log_bin=${logBin ?? 'unknown'})`,
          fix: `start the server with --log-bin (${cnf}: log_bin = binlog); it cannot be enabled at runtime`,
        },
  );

  out.push(
    setting(
      'binlog_format',
      v.get('binlog_format'),
      'ROW',
      cnf,
      'row events carry the changed rows',
    ),
  );
  out.push(
    setting(
      'binlog_row_image',
      v.get('binlog_row_image'),
      'FULL',
      cnf,
      'every column of both images is needed to render every key',
    ),
  );

  const metadataSupported = mysql
    ? compareVersions(facts.flavor.version, [8, 0, 1]) >= 0
    : compareVersions(facts.flavor.version, [10, 5, 0]) >= 0;
  const metadata = v.get('binlog_row_metadata');
  if (metadata === undefined || !metadataSupported) {
    out.push({
      id: 'binlog_row_metadata',
      status: 'fail',
      message: `${facts.flavor.text} has no binlog_row_metadata: row events carry no column names, so replays across an ALTER mislabel columns`,
      fix: 'upgrade to MariaDB >= 10.5 or MySQL >= 8.0.1 and set binlog_row_metadata = FULL',
    });
  } else {
    out.push(
      setting(
        'binlog_row_metadata',
        metadata,
        'FULL',
        cnf,
        'without it column names come from the live schema: rows written before an ALTER are mislabelled and ENUM/SET values decode wrongly',
        '--binlog-row-metadata=FULL',
      ),
    );
  }

  const ownId = Number(v.get('server_id'));
  const id = config.source.serverId;
  out.push(
    ownId === id
      ? {
          id: 'server_id',
          status: 'fail',
          message: `source.serverId ${id} is the server's own server_id`,
          fix: 'choose another source.serverId, unique among the servers and replicas of this topology',
        }
      : {
          id: 'server_id',
          status: 'pass',
          message: `source.serverId ${id} differs from the server's server_id (${ownId})`,
        },
  );
  if (facts.replicaIds === null) {
    out.push({
      id: 'replica_ids',
      status: 'skip',
      message: `${facts.user} may not list replicas (SHOW ${mysql ? 'REPLICAS' : 'SLAVE HOSTS'}); uniqueness of source.serverId among replicas not checked`,
    });
  } else if (facts.replicaIds.includes(id)) {
    out.push({
      id: 'replica_ids',
      status: 'fail',
      message: `a registered replica already uses server id ${id}: the server would disconnect one of the two`,
      fix: 'choose another source.serverId',
    });
  } else {
    out.push({
      id: 'replica_ids',
      status: 'pass',
      message: `no registered replica uses server id ${id} (${facts.replicaIds.length} registered)`,
    });
  }

  out.push(...grantChecks(facts));
  out.push(retentionCheck(v, cnf));
  out.push(...serverChecks(facts, cnf));
  return out;
}

/** Which server answers, and whether a failover can be followed by GTID. */
function serverChecks(facts: SourceFacts, cnf: string): SourceCheck[] {
  const v = facts.variables;
  const probe = parseProbe([
    ...[...v].map(([Variable_name, Value]) => ({ Variable_name, Value })),
    { Variable_name: 'version', Value: facts.flavor.text },
  ]);
  const host = facts.host === undefined || facts.host === '' ? 'the server' : facts.host;
  const out: SourceCheck[] = [
    probe.readOnly
      ? {
          id: 'server',
          status: 'warn',
          message: `${host} is ${describeServer(probe.identity)}, read-only (a replica): its binlog stops moving when its primary fails`,
          fix: 'point source.url at the primary (or an address that follows it), or list every host: mysql://user:pass@db1:3306,db2:3306/app',
        }
      : {
          id: 'server',
          status: 'pass',
          message: `${host} is ${describeServer(probe.identity)}, a primary (read_only off)`,
        },
  ];
  if (probe.gtidState === undefined) {
    out.push({
      id: 'gtid',
      status: 'warn',
      message:
        'gtid_mode is OFF: after a failover to another server the daemon cannot find its checkpoint there and stops (E_SOURCE_CHANGED, or flushes with source.onSourceChanged: flush)',
      fix: `enable GTIDs (gtid_mode = ON and enforce_gtid_consistency = ON in ${cnf}, stepwise on a running topology)`,
    });
  } else {
    out.push({
      id: 'gtid',
      status: 'pass',
      message: `GTIDs on (${probe.gtidHead === '' || probe.gtidHead === undefined ? 'none written yet' : probe.gtidHead}): a failover to a replica that logs what it applies is followed by GTID`,
    });
  }
  return out;
}

function setting(
  name: string,
  value: string | undefined,
  want: string,
  cnf: string,
  why: string,
  flag = `--${name.replaceAll('_', '-')}=${want}`,
): SourceCheck {
  if (value?.toUpperCase() === want)
    return { id: name, status: 'pass', message: `${name} is ${want}` };
  return {
    id: name,
    status: 'fail',
    message: `${name} is ${value ?? 'unknown'}, must be ${want}: ${why}`,
    fix: `SET GLOBAL ${name} = '${want}'; and make it permanent: ${flag} on the server command line or ${name} = ${want} in ${cnf} (SET GLOBAL does not survive a restart and only affects new sessions)`,
  };
}

function grantChecks(facts: SourceFacts): SourceCheck[] {
  const mysql = facts.flavor.kind === 'mysql';
  const privs = facts.globalPrivileges;
  const all = privs?.has('ALL PRIVILEGES') === true || privs?.has('ALL') === true;
  const out: SourceCheck[] = [];

  const repl =
    all || privs?.has('REPLICATION SLAVE') === true || privs?.has('REPLICATION REPLICA') === true;
  out.push(
    privs === null
      ? {
          id: 'grant_replication_slave',
          status: 'skip',
          message: 'SHOW GRANTS failed; REPLICATION SLAVE not checked',
        }
      : repl
        ? {
            id: 'grant_replication_slave',
            status: 'pass',
            message: `${facts.user} has REPLICATION SLAVE`,
          }
        : {
            id: 'grant_replication_slave',
            status: 'fail',
            message: `${facts.user} lacks REPLICATION SLAVE (needed to read the binlog stream)`,
            fix: `GRANT REPLICATION SLAVE ON *.* TO ${facts.user};`,
          },
  );

  const monitor = mysql ? 'REPLICATION CLIENT' : 'BINLOG MONITOR';
  out.push(
    facts.canListBinlogs
      ? {
          id: 'grant_binlog_monitor',
          status: 'pass',
          message: `${facts.user} can list binary logs (${monitor})`,
        }
      : {
          id: 'grant_binlog_monitor',
          status: 'fail',
          message: `${facts.user} cannot run SHOW BINARY LOGS / SHOW ${mysql ? 'BINARY LOG' : 'MASTER'} STATUS`,
          fix: `GRANT ${monitor} ON *.* TO ${facts.user};`,
        },
  );

  const problems = [...facts.select].flatMap(([t, p]) => (p === null ? [] : [{ table: t, ...p }]));
  if (facts.select.size === 0) {
    out.push({ id: 'grant_select', status: 'skip', message: 'no mapped tables' });
  } else if (problems.length === 0) {
    out.push({
      id: 'grant_select',
      status: 'pass',
      message: `${facts.user} can SELECT from ${[...facts.select.keys()].join(', ')}`,
    });
  } else {
    const fixes = problems.map((p) =>
      p.missing
        ? `create ${p.table} or correct the rule that names it;`
        : `GRANT SELECT ON ${quoteTable(p.table)} TO ${facts.user};`,
    );
    out.push({
      id: 'grant_select',
      status: 'fail',
      message: `${facts.user} cannot read ${problems.map((p) => `${p.table} (${p.error})`).join('; ')}`,
      fix: fixes.join(' '),
    });
  }
  return out;
}

function retentionCheck(v: ReadonlyMap<string, string>, cnf: string): SourceCheck {
  const seconds = Number(v.get('binlog_expire_logs_seconds') ?? 0);
  const days = Number(v.get('expire_logs_days') ?? 0);
  const retention = seconds > 0 ? seconds : days > 0 ? days * DAY_S : 0;
  const fix = `SET GLOBAL binlog_expire_logs_seconds = 604800; and binlog_expire_logs_seconds = 604800 in ${cnf} (7 days)`;
  if (retention === 0) {
    return {
      id: 'retention',
      status: 'pass',
      message:
        'binary logs are never purged automatically (watch the disk; purge only behind the checkpoint)',
    };
  }
  const human =
    retention >= DAY_S
      ? `${+(retention / DAY_S).toFixed(2)} days`
      : `${+(retention / 3600).toFixed(2)} hours`;
  if (retention < DAY_S) {
    return {
      id: 'retention',
      status: 'warn',
      message: `binary logs expire after ${human}: a daemon stopped for longer loses its checkpoint (E_POSITION_LOST)`,
      fix,
    };
  }
  return { id: 'retention', status: 'pass', message: `binary logs are kept ${human}` };
}

/** The privileges of the `GRANT … ON *.* TO …` lines, upper case. Pure. */
export function globalPrivilegesOf(grants: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const line of grants) {
    const m = /^GRANT\s+(.+?)\s+ON\s+\*\.\*\s+TO\s/i.exec(line);
    if (!m?.[1]) continue;
    for (const p of m[1].split(',')) out.add(p.trim().toUpperCase().replace(/\s+/g, ' '));
  }
  return out;
}

/** `sluice@127.0.0.1` → `'sluice'@'127.0.0.1'` */
function quoteUser(current: string): string {
  const at = current.lastIndexOf('@');
  if (at < 0) return `'${current}'`;
  return `'${current.slice(0, at)}'@'${current.slice(at + 1)}'`;
}

function quoteIdent(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

function quoteTable(table: string): string {
  const dot = table.indexOf('.');
  return `${quoteIdent(table.slice(0, dot))}.${quoteIdent(table.slice(dot + 1))}`;
}
