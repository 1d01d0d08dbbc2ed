import { execFileSync } from 'node:child_process';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { ROOT } from '../helpers/cli.js';

/**
 * The two MariaDB servers of scripts/source-pair.sh: "a" and "b", in GTID
 * replication (b replicates a) or standalone. Ports 3341/3342; the tests'
 * proxies listen on 3340 and 3343-3349.
 */
export const PAIR = { a: 3341, b: 3342 } as const;
export type PairServer = keyof typeof PAIR;

/** Runs `scripts/source-pair.sh …args`. */
export function pair(...args: string[]): void {
  execFileSync('bash', ['scripts/source-pair.sh', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      SLUICE_PAIR_A_PORT: String(PAIR.a),
      SLUICE_PAIR_B_PORT: String(PAIR.b),
    },
    stdio: 'ignore',
  });
}

/** The binlog user's URL (as scripts/services.sh creates it) for a port. */
export function binlogUrl(port: number): string {
  return `mysql://sluice:sluice-secret@127.0.0.1:${port}`;
}

/** An admin connection to one of the servers (DDL, writes, replication state). */
export async function admin(server: PairServer, database?: string): Promise<Connection> {
  return createConnection({
    ...mysqlConnectionOptions(`mysql://sluice_admin:admin-secret@127.0.0.1:${PAIR[server]}`),
    ...(database === undefined ? {} : { database }),
    multipleStatements: true,
  });
}

/** One value of a one-row query on `server` (a new connection: servers get killed). */
export async function value(server: PairServer, sql: string): Promise<string> {
  const conn = await admin(server);
  try {
    const [rows] = await conn.query<RowDataPacket[]>(sql);
    return String(Object.values(rows[0] ?? {})[0] ?? '');
  } finally {
    conn.destroy();
  }
}
