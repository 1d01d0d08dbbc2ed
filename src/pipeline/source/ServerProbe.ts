import type { ServerIdentity } from '../ServerIdentity.js';

/** What the source reads from a server before it asks for the binlog. */
export interface ServerProbe {
  readonly identity: ServerIdentity;
  /** `@@read_only`: a replica, or a primary being demoted. */
  readonly readOnly: boolean;
  /**
   * Every transaction in the server's binlog history: MariaDB
   * `@@gtid_binlog_state` (the last GTID per domain and server id), MySQL
   * `@@gtid_executed`; undefined when the server has no GTIDs (MySQL
   * `gtid_mode=OFF`).
   */
  readonly gtidState: string | undefined;
  /** The server's current GTID position (MariaDB `@@gtid_binlog_pos`, MySQL `@@gtid_executed`). */
  readonly gtidHead: string | undefined;
}

/** The variables a probe reads (absent ones are another flavor's). */
export const PROBE_VARIABLES = [
  'version',
  'server_id',
  'server_uuid',
  'gtid_domain_id',
  'read_only',
  'gtid_mode',
  'gtid_executed',
  'gtid_binlog_state',
  'gtid_binlog_pos',
] as const;

/**
 * One statement both flavors answer (SHOW VARIABLES needs no privilege), so
 * it can be queued on the binlog connection before the flavor is known.
 */
export const PROBE_SQL = `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${PROBE_VARIABLES.map((v) => `'${v}'`).join(', ')})`;

/** The probe from the rows of PROBE_SQL. Pure. */
export function parseProbe(rows: ReadonlyArray<Record<string, unknown>>): ServerProbe {
  const v = new Map<string, string>();
  for (const r of rows) v.set(text(r.Variable_name).toLowerCase(), text(r.Value));
  const version = v.get('version');
  const mariadb = version === undefined ? v.has('gtid_domain_id') : /mariadb/i.test(version);
  const serverId = Number(v.get('server_id') ?? 0);
  const readOnly = /^(on|1)$/i.test(v.get('read_only') ?? '');
  if (mariadb) {
    return {
      identity: { kind: 'mariadb', serverId, domainId: Number(v.get('gtid_domain_id') ?? 0) },
      readOnly,
      gtidState: v.get('gtid_binlog_state') ?? '',
      gtidHead: v.get('gtid_binlog_pos') ?? '',
    };
  }
  const gtidOn = /^on/i.test(v.get('gtid_mode') ?? '');
  const executed = (v.get('gtid_executed') ?? '').replace(/\s+/g, '');
  return {
    identity: { kind: 'mysql', serverId, uuid: (v.get('server_uuid') ?? '').toLowerCase() },
    readOnly,
    gtidState: gtidOn ? executed : undefined,
    gtidHead: gtidOn ? executed : undefined,
  };
}

/**
 * MariaDB: whether the server's binlog at a coordinate (`BINLOG_GTID_POS`
 * there) agrees with the GTID position stored with it, domain by domain.
 * It tells a rebuilt server (the same server_id after RESET MASTER, or a
 * new machine) whose binlog has other transactions at that offset. Domains
 * the stored position does not name are not compared (an older checkpoint
 * holds one GTID, not the whole position). Pure.
 */
export function gtidMatchesAt(stored: string, atPosition: string): boolean {
  const there = new Map(entries(atPosition).map((g) => [g.domain, g.text]));
  return entries(stored).every((g) => there.get(g.domain) === g.text);
}

function entries(position: string): Array<{ domain: string; text: string }> {
  return position
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((text) => ({ domain: String(BigInt(text.split('-')[0] ?? '0')), text }));
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return Buffer.isBuffer(value) ? value.toString('utf8') : '';
}
