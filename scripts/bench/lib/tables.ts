// Bench tables: same shape everywhere, filled with rows 1..n.
import type { Connection } from 'mysql2/promise';

/** (Re)creates `bench.<name>` with rows 1..n. Runs with sql_log_bin=0: the fill stays out of the binlog. */
export async function createItems(conn: Connection, name: string, n: number): Promise<void> {
  await conn.query('SET SESSION sql_log_bin = 0');
  try {
    await conn.query(`DROP TABLE IF EXISTS ${name}`);
    await conn.query(`CREATE TABLE ${name} (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        email VARCHAR(64) NOT NULL,
        name VARCHAR(64) NOT NULL,
        score INT NOT NULL,
        updated_at DATETIME(3) NOT NULL
      ) ENGINE=InnoDB`);
    for (let from = 1; from <= n; from += 1000) {
      const values: string[] = [];
      for (let id = from; id < Math.min(n + 1, from + 1000); id++) {
        values.push(
          `(${id},'user${id}@example.com','User ${id}',${id % 1000},'2024-01-01 00:00:00.000')`,
        );
      }
      await conn.query(
        `INSERT INTO ${name} (id, email, name, score, updated_at) VALUES ${values.join(',')}`,
      );
    }
  } finally {
    await conn.query('SET SESSION sql_log_bin = 1');
  }
}
