import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { redactUrl } from '../config/redact.js';
import { SluiceError } from '../errors/index.js';
import { mysqlConnectionOptions } from '../infra/mysqlConnectionOptions.js';
import { hostOf, splitSourceHosts } from '../infra/sourceHosts.js';
import { formatPosition, position, type BinlogPosition } from '../pipeline/position.js';
import { locatePrimary } from '../pipeline/source/locatePrimary.js';
import { parseProbe, PROBE_SQL, type ServerProbe } from '../pipeline/source/ServerProbe.js';

/** One row of SHOW BINARY LOGS. */
export interface BinaryLog {
  readonly file: string;
  readonly size: number;
}

/** Which server we talk to: MariaDB and MySQL differ in statements and variables. */
export interface ServerFlavor {
  readonly kind: 'mariadb' | 'mysql';
  readonly version: readonly [number, number, number];
  /** `SELECT VERSION()` as the server reports it. */
  readonly text: string;
}

/** One event of SHOW BINLOG EVENTS. */
export interface BinlogEventRow {
  readonly file: string;
  readonly pos: number;
  readonly type: string;
  readonly endPos: number;
  readonly info: string;
}

/** Errors worth a branch (mysql2 labels MariaDB errors with MySQL names: use errno). */
const ER_PARSE_ERROR = 1064;
const ER_NO_BINARY_LOGGING = 1381;
const ER_ERROR_WHEN_EXECUTING_COMMAND = 1220;
const ACCESS_DENIED = new Set([1044, 1045, 1142, 1227, 1698]);

/** The MySQL errno of `err`, if it is a server error. */
export function errnoOf(err: unknown): number | undefined {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' ? errno : undefined;
}

export function isAccessDenied(err: unknown): boolean {
  const errno = errnoOf(err);
  return errno !== undefined && ACCESS_DENIED.has(errno);
}

/**
 * Administrative questions to the source server over one short-lived
 * connection: binlog files and head, variables, grants, single events. The
 * operator commands (replay, position, status, check-source) share it so
 * MariaDB/MySQL differences are handled in one place.
 */
export class ServerInfo {
  private constructor(
    private readonly conn: Connection,
    readonly flavor: ServerFlavor,
    /** The URL with its password hidden, for messages. */
    readonly where: string,
    /** `host:port` connected to. */
    readonly host = '',
  ) {}

  /**
   * Connects; a failure becomes E_SOURCE_CONNECT naming the redacted URL.
   * A URL naming several hosts connects to the first primary among them,
   * as the daemon does (see locatePrimary).
   */
  static async connect(sourceUrl: string): Promise<ServerInfo> {
    const hosts = splitSourceHosts(sourceUrl);
    const url = hosts.length === 1 ? sourceUrl : await locatePrimary(hosts);
    const where = redactUrl(url);
    let conn: Connection;
    try {
      conn = await createConnection(
        mysqlConnectionOptions(url, {
          connectTimeout: 10_000,
          supportBigNumbers: true,
          bigNumberStrings: true,
        }),
      );
    } catch (cause) {
      throw new SluiceError(
        'E_SOURCE_CONNECT',
        `cannot connect to ${where}: ${(cause as Error).message}`,
        {
          cause,
          details: { url: where, errno: errnoOf(cause) },
        },
      );
    }
    conn.on('error', () => undefined); // a dropped connection fails the next query instead
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
      return new ServerInfo(conn, parseFlavor(String(rows[0]?.v ?? '')), where, hostOf(url));
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /**
   * Wraps a connection that is already open and whose flavor is known. The
   * unit tests drive ServerInfo through it with recorded MySQL 8.x answers
   * (only MariaDB runs in this project's test services); use `connect`.
   */
  static over(conn: Connection, flavor: ServerFlavor, where = 'the source server'): ServerInfo {
    return new ServerInfo(conn, flavor, where);
  }

  /** Who the server is (identity, read_only, GTID state), as the daemon's source sees it. */
  async probe(): Promise<ServerProbe> {
    return parseProbe(await this.query(PROBE_SQL));
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => this.conn.destroy());
  }

  async query(sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
    const [rows] = await this.conn.query<RowDataPacket[]>(sql, params);
    return rows;
  }

  /** SHOW BINARY LOGS, oldest first; E_SOURCE_SETTINGS when binary logging is off. */
  async binaryLogs(): Promise<BinaryLog[]> {
    try {
      const rows = await this.query('SHOW BINARY LOGS');
      return rows.map((r) => ({ file: String(r.Log_name), size: Number(r.File_size) }));
    } catch (err) {
      if (errnoOf(err) === ER_NO_BINARY_LOGGING) {
        throw new SluiceError(
          'E_SOURCE_SETTINGS',
          `binary logging is off on ${this.where} (start it with --log-bin)`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  /**
   * The server's current binlog end, or null when binary logging is off.
   * MySQL 8.4 removed SHOW MASTER STATUS for SHOW BINARY LOG STATUS, which
   * MariaDB and older MySQL do not parse: try the new one, fall back.
   */
  async head(): Promise<BinlogPosition | null> {
    let rows: RowDataPacket[];
    try {
      rows = await this.query('SHOW BINARY LOG STATUS');
    } catch (err) {
      if (errnoOf(err) !== ER_PARSE_ERROR) throw err;
      rows = await this.query('SHOW MASTER STATUS');
    }
    const r = rows[0];
    return r === undefined ? null : position(String(r.File), Number(r.Position));
  }

  /** Global variables by (lower-case) name; names the server does not know are absent. */
  async variables(names: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.query(
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names.map(() => '?').join(', ')})`,
      [...names],
    );
    return new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]));
  }

  /**
   * Checks that `pos` can be streamed: its file is among SHOW BINARY LOGS and
   * the offset is within the file. Throws E_POSITION_LOST otherwise.
   */
  async requireOnServer(pos: BinlogPosition, logs?: readonly BinaryLog[]): Promise<void> {
    const problem = positionProblem(logs ?? (await this.binaryLogs()), pos);
    if (problem !== null) {
      throw new SluiceError('E_POSITION_LOST', problem, {
        details: { position: formatPosition(pos) },
      });
    }
  }

  /**
   * The event that starts at `pos` (null at the end of a file). Throws
   * E_POSITION_INVALID when no event starts there; returns undefined when the
   * server does not let this user run SHOW BINLOG EVENTS (the check is skipped).
   */
  async eventAt(pos: BinlogPosition): Promise<BinlogEventRow | null | undefined> {
    try {
      const rows = await this.binlogEvents(pos.file, pos.pos, 1);
      return rows[0] ?? null;
    } catch (err) {
      if (isAccessDenied(err)) return undefined;
      if (errnoOf(err) === ER_ERROR_WHEN_EXECUTING_COMMAND) {
        throw new SluiceError(
          'E_POSITION_INVALID',
          `${formatPosition(pos)} is not the start of a binlog event (${(err as Error).message})`,
          { cause: err, details: { position: formatPosition(pos) } },
        );
      }
      throw err;
    }
  }

  /** SHOW BINLOG EVENTS IN file [FROM pos] LIMIT n. */
  async binlogEvents(file: string, from: number | null, limit: number): Promise<BinlogEventRow[]> {
    const rows = await this.query(
      `SHOW BINLOG EVENTS IN ?${from === null ? '' : ` FROM ${Math.trunc(from)}`} LIMIT ${Math.trunc(limit)}`,
      [file],
    );
    return rows.map((r) => ({
      file: String(r.Log_name),
      pos: Number(r.Pos),
      type: String(r.Event_type),
      endPos: Number(r.End_log_pos),
      info: String(r.Info ?? ''),
    }));
  }

  /** MariaDB: the GTID position at `pos` (BINLOG_GTID_POS), or undefined (MySQL, not a boundary). */
  async gtidAt(pos: BinlogPosition): Promise<string | undefined> {
    if (this.flavor.kind !== 'mariadb') return undefined;
    try {
      const rows = await this.query('SELECT BINLOG_GTID_POS(?, ?) AS g', [pos.file, pos.pos]);
      const g: unknown = rows[0]?.g;
      return typeof g === 'string' && g !== '' ? g : undefined;
    } catch {
      return undefined;
    }
  }

  /** The lines of SHOW GRANTS for the connected user (they may hold password hashes: never print them). */
  async grants(): Promise<string[]> {
    const rows = await this.query('SHOW GRANTS');
    return rows.map((r) => String(Object.values(r)[0] ?? ''));
  }

  /** True when the flavor's version is at least `min`. */
  atLeast(kind: ServerFlavor['kind'], ...min: [number, number, number]): boolean {
    if (this.flavor.kind !== kind) return false;
    return compareVersions(this.flavor.version, min) >= 0;
  }
}

/** `10.11.19-MariaDB-0+deb12u1-log` → mariadb 10.11.19; `8.4.3` → mysql 8.4.3. */
export function parseFlavor(text: string): ServerFlavor {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  const version: [number, number, number] = m
    ? [Number(m[1]), Number(m[2]), Number(m[3])]
    : [0, 0, 0];
  return { kind: /mariadb/i.test(text) ? 'mariadb' : 'mysql', version, text };
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Why `pos` cannot be streamed from `logs`, or null when it can. Pure. */
export function positionProblem(logs: readonly BinaryLog[], pos: BinlogPosition): string | null {
  const log = logs.find((l) => l.file === pos.file);
  if (log === undefined) {
    const range =
      logs.length === 0
        ? 'it has no binary logs'
        : `it has ${logs[0]?.file} … ${logs[logs.length - 1]?.file}`;
    return `${pos.file} is not on the server (purged?); ${range}`;
  }
  if (pos.pos > log.size) {
    return `${formatPosition(pos)} is beyond the end of ${log.file} (${log.size} bytes)`;
  }
  return null;
}

/**
 * Bytes of binlog from `from` to `to` (0 when `to` is not after `from`),
 * summing file sizes across files; null when a file is not among `logs`
 * (purged, or not yet listed). Pure.
 */
export function bytesBetween(
  logs: readonly BinaryLog[],
  from: BinlogPosition,
  to: BinlogPosition,
): number | null {
  const a = logs.findIndex((l) => l.file === from.file);
  const b = logs.findIndex((l) => l.file === to.file);
  if (a < 0 || b < 0) return null;
  if (a === b) return Math.max(0, to.pos - from.pos);
  if (a > b) return 0;
  let bytes = Math.max(0, (logs[a]?.size ?? 0) - from.pos);
  for (let i = a + 1; i < b; i++) bytes += logs[i]?.size ?? 0;
  return bytes + to.pos;
}
