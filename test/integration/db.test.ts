import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchInsert } from '../../src/db/batchInsert.js';
import { columnKinds } from '../../src/db/columnKinds.js';
import { createPool, type DbPool } from '../../src/db/createPool.js';
import { keysetPage } from '../../src/db/keysetPage.js';
import { loadById } from '../../src/db/loadById.js';
import { loadByIds } from '../../src/db/loadByIds.js';
import { TestDb } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';

/** The database helpers of src/db against a real MariaDB, as the app user. */
describe('db helpers', () => {
  let db: TestDb;
  let pool: DbPool;
  const lines: Array<Record<string, unknown>> = [];
  let t: (name: string) => string;

  beforeAll(async () => {
    db = await TestDb.create();
    t = (name) => `${db.name}.${name}`;
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    pool = createPool(
      `${testEnv.appUrl}/${db.name}`,
      { connectionLimit: 4, slowQueryMs: 100 },
      logger,
    );
    await db.sql(`CREATE TABLE items (
      id BIGINT UNSIGNED PRIMARY KEY, grp INT NOT NULL, label VARCHAR(50), price DECIMAL(10,2),
      at DATETIME(3), KEY idx_grp (grp, id)
    ) ENGINE=InnoDB`);
    await db.sql(`CREATE TABLE blobs (id VARBINARY(8) PRIMARY KEY, n INT) ENGINE=InnoDB`);
  });

  afterAll(async () => {
    await (pool as DbPool | undefined)?.end();
    await (db as TestDb | undefined)?.drop();
  });

  it('batchInsert writes multi-row VALUES in chunks and returns the affected rows', async () => {
    const spy = vi.spyOn(pool.pool, 'query');
    const rows = Array.from({ length: 2500 }, (_, i) => ({
      id: i + 1,
      grp: (i % 3) + 1,
      label: `item ${i + 1}`,
      price: '1.50',
      at: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, i)),
    }));
    expect(await batchInsert(pool, t('items'), rows)).toBe(2500);
    expect(spy).toHaveBeenCalledTimes(3); // 1000 + 1000 + 500
    spy.mockRestore();
    expect(await db.sql('SELECT COUNT(*) AS n FROM items')).toEqual([{ n: '2500' }]);
    // A row with other columns fails the call before anything is written.
    await expect(
      batchInsert(pool, t('items'), [
        { id: 9001, grp: 1, label: 'a', price: '1', at: null },
        { id: 9002, grp: 1, label: 'b', price: '1' },
      ]),
    ).rejects.toThrow(/row 1 has columns/);
    expect(await db.sql('SELECT COUNT(*) AS n FROM items WHERE id > 9000')).toEqual([{ n: '0' }]);
    expect(await batchInsert(pool, t('items'), [])).toBe(0);
  });

  it('loadById returns the normalized row (exact BIGINT, DECIMAL, UTC ISO dates) or null', async () => {
    expect(await loadById(pool, t('items'), 'id', 7n)).toEqual({
      id: '7',
      grp: 1,
      label: 'item 7',
      price: '1.50',
      at: '2024-01-01T00:00:00.006Z',
    });
    expect(await loadById(pool, t('items'), 'id', 99_999n)).toBeNull();
    await db.sql(`INSERT INTO blobs VALUES (X'00ff', 1)`);
    expect(await loadById(pool, t('blobs'), 'id', Buffer.from('00ff', 'hex'))).toEqual({
      id: 'AP8=', // binary travels as base64 in JSON
      n: 1,
    });
  });

  it('loadByIds finds rows by id text with IN queries of at most 1000 ids', async () => {
    const spy = vi.spyOn(pool.pool, 'query');
    const ids = Array.from({ length: 2100 }, (_, i) => BigInt(i * 2 + 1)); // 1, 3, … 4199
    const found = await loadByIds(pool, t('items'), 'id', ids);
    expect(spy).toHaveBeenCalledTimes(3);
    for (const call of spy.mock.calls) {
      expect(((call[1] as unknown[] | undefined) ?? []).length).toBeLessThanOrEqual(1000);
    }
    spy.mockRestore();
    expect(found.size).toBe(1250); // the odd ids up to 2500
    expect(found.get('1')).toMatchObject({ id: '1', label: 'item 1' });
    expect(found.has('2501')).toBe(false);
    expect(found.has('2')).toBe(false);
  });

  it('keysetPage walks a list by cursor (no OFFSET) and ends with nextCursor null', async () => {
    const seen: string[] = [];
    let before: bigint | undefined;
    let pages = 0;
    for (;;) {
      const page = await keysetPage(pool, t('items'), { by: 'grp', cursor: 'id' }, 2, before, 300);
      pages++;
      seen.push(...page.items.map((r) => r.id as string));
      if (page.nextCursor === null) break;
      expect(page.items).toHaveLength(300);
      expect(page.nextCursor).toBe(page.items[299]?.id);
      before = BigInt(page.nextCursor);
    }
    const expected = Array.from({ length: 2500 }, (_, i) => i + 1)
      .filter((id) => (id - 1) % 3 === 1)
      .reverse()
      .map(String);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 300));
  });

  it('logs statements slower than slowQueryMs at warn: duration and shape, never the values', async () => {
    lines.length = 0;
    await pool.query('SELECT SLEEP(?) AS s, ? AS secret', [0.15, 'hunter2']);
    await pool.query('SELECT ? AS fast', ['quick']);
    // Only the slow statement is logged. (The trivial one is too, should a
    // busy machine make it slower than the threshold: the rule is the
    // duration, not which statement.)
    expect(lines.every((l) => (l.durationMs as number) >= 100)).toBe(true);
    const slow = lines.filter((l) => l.sql === 'SELECT SLEEP(?) AS s, ? AS secret');
    expect(slow).toHaveLength(1);
    const line = slow[0] ?? {};
    expect(line).toMatchObject({
      level: 40,
      component: 'db',
      msg: 'slow query',
      thresholdMs: 100,
      sql: 'SELECT SLEEP(?) AS s, ? AS secret',
    });
    expect(line.durationMs).toBeGreaterThanOrEqual(140);
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(JSON.stringify(lines)).not.toContain('quick');
  });

  it('columnKinds reads the kind of every column; ping answers', async () => {
    expect(Object.fromEntries(await columnKinds(pool, t('items')))).toEqual({
      id: 'integer',
      grp: 'integer',
      label: 'text',
      price: 'text',
      at: 'text',
    });
    expect(Object.fromEntries(await columnKinds(pool, t('blobs')))).toEqual({
      id: 'binary',
      n: 'integer',
    });
    await expect(columnKinds(pool, t('nope'))).rejects.toMatchObject({ code: 'E_TABLE_NOT_FOUND' });
    expect(await pool.ping()).toBe(true);
  });
});
