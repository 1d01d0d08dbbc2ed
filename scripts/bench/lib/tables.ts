// Bench tables: same shape everywhere, filled with rows 1..n.
import type { Connection } from 'mysql2/promise';

/** Drops and creates `name` (in the connection's database) with the bench items shape. */
export async function createItemsTable(conn: Connection, name: string): Promise<void> {
  await conn.query(`DROP TABLE IF EXISTS ${name}`);
  await conn.query(`CREATE TABLE ${name} (
      id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      email VARCHAR(64) NOT NULL,
      name VARCHAR(64) NOT NULL,
      score INT NOT NULL,
      updated_at DATETIME(3) NOT NULL
    ) ENGINE=InnoDB`);
}

/** `INSERT INTO name … VALUES` of the bench rows with these ids. */
export function insertItems(name: string, ids: Iterable<number>): string {
  const values: string[] = [];
  for (const id of ids) {
    values.push(
      `(${id},'user${id}@example.com','User ${id}',${id % 1000},'2024-01-01 00:00:00.000')`,
    );
  }
  return `INSERT INTO ${name} (id, email, name, score, updated_at) VALUES ${values.join(',')}`;
}

/** Ids `from`..`to`, inclusive. */
export function* idRange(from: number, to: number): Generator<number> {
  for (let id = from; id <= to; id++) yield id;
}

/** (Re)creates `bench.<name>` with rows 1..n. Runs with sql_log_bin=0: the fill stays out of the binlog. */
export async function createItems(conn: Connection, name: string, n: number): Promise<void> {
  await conn.query('SET SESSION sql_log_bin = 0');
  try {
    await createItemsTable(conn, name);
    for (let from = 1; from <= n; from += 1000) {
      await conn.query(insertItems(name, idRange(from, Math.min(n, from + 999))));
    }
  } finally {
    await conn.query('SET SESSION sql_log_bin = 1');
  }
}
