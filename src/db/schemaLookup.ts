import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { mysqlConnectionOptions } from '../infra/mysqlConnectionOptions.js';

/** Column names of `schema.table` from INFORMATION_SCHEMA, or null when the table is absent. */
export type ColumnLookup = (schema: string, table: string) => Promise<readonly string[] | null>;

/**
 * A short-lived control connection for schema questions (start-up template
 * checks, re-checks after ALTER TABLE). Needs only SELECT on the tables.
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
      const conn = await createConnection(mysqlConnectionOptions(this.url));
      conn.on('error', () => {
        if (this.conn === conn) this.conn = null;
      });
      this.conn = conn;
    }
    return this.conn;
  }
}
