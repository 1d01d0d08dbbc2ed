import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { isSluiceError } from '../../src/errors/index.js';
import { TestDb } from '../helpers/db.js';
import { startDaemon } from '../helpers/daemon.js';
import { randomId } from '../helpers/env.js';
import { checkpointText, plant, survivors, testRedis } from '../helpers/redis.js';

/** DDL on mapped tables: ALTER that drops a template column, DROP TABLE, unmapped DDL. */
describe('schema changes on mapped tables', () => {
  let db: TestDb;
  let redis: Redis;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  it('onSchemaMismatch: fail stops with E_SCHEMA_MISMATCH and keeps the checkpoint before the ALTER', async () => {
    const t = `a_${randomId()}`;
    await db.sql(`CREATE TABLE ${t} (id INT PRIMARY KEY, email VARCHAR(64))`);
    const p = `sm${randomId()}`;
    const d = await startDaemon({ [`${db.name}.${t}`]: [`${p}:{id}`, `${p}:e:{email}`] });
    await db.sql(`INSERT INTO ${t} VALUES (1, 'a@x')`);
    const beforeAlter = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, d.source)).toBe(beforeAlter));

    await db.sql(`ALTER TABLE ${t} DROP COLUMN email`);
    const err = await d.invalidator.done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isSluiceError(err) && err.code).toBe('E_SCHEMA_MISMATCH');
    expect(String((err as Error).message)).toContain(`${db.name}.${t}.email`);
    expect(await checkpointText(redis, d.source)).toBe(beforeAlter);
    await d.stop();
  });

  it('onSchemaMismatch: flush removes the table key space and continues', async () => {
    const t = `b_${randomId()}`;
    await db.sql(`CREATE TABLE ${t} (id INT PRIMARY KEY, email VARCHAR(64))`);
    const p = `sf${randomId()}`;
    const d = await startDaemon(
      { [`${db.name}.${t}`]: [`${p}:{id}`, `${p}:e:{email}`] },
      { source: { onSchemaMismatch: 'flush' } },
    );
    const gone = await plant(redis, [`${p}:1`, `${p}:e:a@x`]);
    const kept = await plant(redis, [`other${p}:1`]);
    await db.sql(`ALTER TABLE ${t} DROP COLUMN email`);
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]));
    expect(await survivors(redis, kept)).toEqual(kept);
    // Still running: later rows are still invalidated.
    await plant(redis, [`${p}:2`]);
    await db.sql(`INSERT INTO ${t} VALUES (2)`);
    await vi.waitFor(async () => expect(await survivors(redis, [`${p}:2`])).toEqual([]));
    await d.stop();
  });

  it('an ALTER that keeps the template columns, and DDL on unmapped tables, change nothing', async () => {
    const t = `c_${randomId()}`;
    await db.sql(`CREATE TABLE ${t} (id INT PRIMARY KEY, v INT)`);
    const p = `sk${randomId()}`;
    const d = await startDaemon({ [`${db.name}.${t}`]: [`${p}:{id}`] });
    const kept = await plant(redis, [`${p}:1`]);
    await db.sql(`ALTER TABLE ${t} ADD COLUMN w INT`);
    await db.sql(`CREATE TABLE unmapped_${randomId()} (id INT PRIMARY KEY)`);
    await db.sql(`INSERT INTO ${t} (id, v, w) VALUES (2, 2, 2)`);
    await plant(redis, [`${p}:2`]);
    await db.sql(`UPDATE ${t} SET w = 3 WHERE id = 2`);
    await vi.waitFor(async () => expect(await survivors(redis, [`${p}:2`])).toEqual([]));
    expect(await survivors(redis, kept)).toEqual(kept);
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(redis, d.source)).toBe(head));
    await d.stop();
  });

  it('DROP TABLE flushes the table key space', async () => {
    const t = `d_${randomId()}`;
    await db.sql(`CREATE TABLE ${t} (id INT PRIMARY KEY)`);
    const p = `sd${randomId()}`;
    const d = await startDaemon({ [`${db.name}.${t}`]: [`${p}:{id}`] });
    const gone = await plant(redis, [`${p}:1`, `${p}:2`, RedisKeys.lease(`${p}:3`)]);
    await db.sql(`DROP TABLE ${t}`);
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]));
    await d.stop();
  });
});
