import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { mysqlConnectionOptions } from '../infra/mysqlConnectionOptions.js';
import { splitSourceHosts } from '../infra/sourceHosts.js';

/** Column names of `schema.table` from INFORMATION_SCHEMA, or null when the table is absent. */
export type ColumnLookup = (schema: string, table: string) => Promise<readonly string[] | null>;

/**
 * A short-lived control connection for schema questions (start-up template
 * checks, re-checks after ALTER TABLE). Needs only SELECT on the tables.
 * With several source hosts it asks the first that answers: the servers of
 * one topology share their schema.
 */
export class SchemaLookup {
  private conn: Connection | null = null;

  constructor(private readonly url: string) {}

  readonly columns: ColumnLookup = async (schema, table) => {
    const conn = await this.connection();
    const [rows] = await conn.execute<RowDataPacket[]>(
      'SELECT COLUMN_NAME AS name FROM INFORMATION_SCHEMA.COLUMNS ' +
        'WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [schema, table],
    );
    return rows.length === 0 ? null : rows.map((r) => String(r.name));
  };

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.end().catch(() => conn.destroy());
  }

  private async connection(): Promise<Connection> {
    if (this.conn === null) {
      const conn = await firstAnswering(splitSourceHosts(this.url));
      conn.on('error', () => {
        if (this.conn === conn) this.conn = null;
      });
      this.conn = conn;
    }
    return this.conn;
  }
}

async function firstAnswering(urls: readonly string[]): Promise<Connection> {
  let last: unknown = new Error('no source host');
  for (const url of urls) {
    try {
      return await createConnection(mysqlConnectionOptions(url, { connectTimeout: 5000 }));
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
