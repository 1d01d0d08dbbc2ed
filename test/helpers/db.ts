import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { formatPosition, position, type BinlogPosition } from '../../src/pipeline/position.js';
import { randomId, testEnv } from './env.js';

/**
 * A test database of its own (`t_<random>`), created through the admin user
 * and dropped by `drop()`. Tests write through `sql` as the admin.
 */
export class TestDb {
  private constructor(
    readonly name: string,
    public conn: Connection,
  ) {}

  private static connect(): Promise<Connection> {
    return createConnection({
      ...mysqlConnectionOptions(testEnv.adminUrl),
      multipleStatements: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  }

  static async create(): Promise<TestDb> {
    const conn = await TestDb.connect();
    const name = `t_${randomId()}`;
    await conn.query(
      `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    await conn.query(`USE \`${name}\``);
    return new TestDb(name, conn);
  }

  async sql<T = RowDataPacket[]>(statement: string, params: unknown[] = []): Promise<T> {
    const [rows] = await this.conn.query(statement, params);
    return rows as T;
  }

  /** The server's current binlog end (SHOW MASTER STATUS). */
  async head(): Promise<BinlogPosition> {
    const rows = await this.sql<RowDataPacket[]>('SHOW MASTER STATUS');
    const r = rows[0];
    if (!r) throw new Error('binary logging is off on the test server');
    return position(String(r.File), Number(r.Position));
  }

  async headText(): Promise<string> {
    return formatPosition(await this.head());
  }

  /** The server's identity as the daemon records it in checkpoints (MariaDB). */
  async identity(): Promise<{ kind: 'mariadb'; serverId: number; domainId: number }> {
    const [r] = await this.sql<RowDataPacket[]>('SELECT @@server_id AS s, @@gtid_domain_id AS d');
    return { kind: 'mariadb', serverId: Number(r?.s), domainId: Number(r?.d) };
  }

  /** Another session in this database (e.g. one holding a prepared XA transaction); the caller ends it. */
  async session(): Promise<Connection> {
    const conn = await TestDb.connect();
    await conn.query(`USE \`${this.name}\``);
    return conn;
  }

  /** A new connection (after the server was restarted). */
  async reconnect(): Promise<void> {
    this.conn.destroy();
    this.conn = await this.session();
  }

  async drop(): Promise<void> {
    try {
      await this.conn.query(`DROP DATABASE IF EXISTS \`${this.name}\``);
    } finally {
      await this.conn.end();
    }
  }
}
