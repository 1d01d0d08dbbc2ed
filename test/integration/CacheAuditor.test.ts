import type { Cluster, Redis } from 'ioredis';
import { systemClock } from '../../src/infra/clock.js';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CacheAuditor,
  type AuditCounts,
  type CacheAuditorOptions,
} from '../../src/cache/CacheAuditor.js';
import { createPool, type DbPool } from '../../src/db/createPool.js';
import { canonicalJson, normalizeRow } from '../../src/db/rows.js';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/**
 * The auditor against the project's Redis and MariaDB, without the CLI: exact
 * counts per verdict, what it reads (every MGET, recorded through a proxy
 * over the real client), when it reads again, and how it pages, batches,
 * samples and fails.
 */
describe('CacheAuditor (real Redis and MariaDB)', () => {
  let db: TestDb;
  let pool: DbPool;
  let redis: Redis;
  /** This test's key prefix. */
  let p: string;
  const zero: AuditCounts = {
    checked: 0,
    fresh: 0,
    stale: 0,
    negativeButPresent: 0,
    presentButMissing: 0,
    foreign: 0,
    lists: 0,
    skipped: 0,
  };

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql(`CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(64), name VARCHAR(64))`);
    await db.sql(`CREATE TABLE items (sku VARCHAR(32) PRIMARY KEY, title VARCHAR(64))`);
    await db.sql(`INSERT INTO users VALUES
      (1, 'a@x', 'Ann'), (2, 'b@x', 'Bob'), (3, 'c@x', 'Cy'), (4, 'd@x', 'Di'), (7, 'g@x', 'Gus')`);
    await db.sql(`INSERT INTO items VALUES ('A-1', 'first'), ('B-2', 'second')`);
    pool = createPool(
      `${testEnv.appUrl}/${db.name}`,
      { connectionLimit: 4 },
      pino({ level: 'silent' }),
    );
    redis = testRedis();
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
    redis.disconnect();
  });
  afterEach(async () => {
    const keys = await redis.keys(`${p}:*`);
    if (keys.length > 0) await redis.unlink(keys);
  });
  const fresh = (): void => {
    p = `au${randomId()}`;
  };
  const k = (name: string): string => `${p}:${name}`;

  /** The entry the cache stores for a row, read through the same pool. */
  async function entryOf(table: string, column: string, id: string | number): Promise<string> {
    const [row] = await pool.query(`SELECT * FROM ${table} WHERE ${column} = ?`, [id]);
    return 'v' + canonicalJson(normalizeRow(row as Record<string, unknown>));
  }

  async function plant(entries: Record<string, string>): Promise<void> {
    for (const [name, value] of Object.entries(entries)) await redis.set(k(name), value);
  }

  interface Recorded {
    readonly client: Redis;
    /** Keys of each MGET, in call order, with its time (performance.now). */
    readonly mgets: { keys: string[] }[];
    /** Arguments of each SCAN. */
    readonly scans: unknown[][];
  }

  /**
   * The real client, with its MGETs recorded and, optionally, something run
   * before each (`before(n)`, n from 1), and SCAN answered from `pages`
   * (cursor → [next cursor, keys]) instead of Redis: pages cut where the
   * test says, a key repeated as SCAN may repeat one.
   */
  function recorded(
    options: {
      before?: (n: number, keys: readonly string[]) => Promise<void> | void;
      pages?: Record<string, [string, string[]]>;
    } = {},
  ): Recorded {
    const mgets: { keys: string[] }[] = [];
    const scans: unknown[][] = [];
    const client = new Proxy(redis, {
      get(target, prop) {
        if (prop === 'mget') {
          return async (keys: string[]) => {
            mgets.push({ keys: [...keys] });
            await options.before?.(mgets.length, keys);
            return target.mget(keys);
          };
        }
        if (prop === 'scan') {
          return async (...args: unknown[]) => {
            scans.push(args);
            const pages = options.pages;
            if (pages === undefined) {
              return (target.scan as (...a: unknown[]) => Promise<[string, string[]]>)(...args);
            }
            const page = pages[String(args[0])];
            if (page === undefined) throw new Error(`no page at cursor ${String(args[0])}`);
            return Promise.resolve(page);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    return { client, mgets, scans };
  }

  const users = (): { name: string; table: string; key: KeyTemplate } => ({
    name: 'users',
    table: `${db.name}.users`,
    key: KeyTemplate.parse(`${p}:user:{id}`),
  });
  const items = (): { name: string; table: string; key: KeyTemplate } => ({
    name: 'items',
    table: `${db.name}.items`,
    key: KeyTemplate.parse(`${p}:item:{sku}`),
  });

  function auditor(
    client: Redis | Cluster,
    options: Partial<CacheAuditorOptions> = {},
    logs: Array<Record<string, unknown>> = [],
    recheck: 'at once' | 'default delay' = 'at once',
  ): CacheAuditor {
    return new CacheAuditor({
      redis: client,
      db: pool,
      resources: [users()],
      otherTemplates: [
        KeyTemplate.parse(`${p}:user:email:{email}`),
        // As specific as the resource's key and fitting its keys: the resource's own still wins.
        KeyTemplate.parse(`${p}:user{x}:{id}`),
        // Less specific: never wins.
        KeyTemplate.parse(`${p}:{kind}:{id}`),
        // The resource's own key, as a rule lists it too.
        KeyTemplate.parse(`${p}:user:{id}`),
      ],
      listTemplates: [KeyTemplate.parse(`${p}:user:list:{page}`)],
      ...(recheck === 'at once' ? { recheckDelayMs: 0 } : {}),
      logger: pino(
        { level: 'debug' },
        { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
      ),
      ...options,
    });
  }

  it('every verdict, counted exactly, per resource and in total; the offending keys as examples', async () => {
    fresh();
    await plant({
      'user:1': await entryOf('users', 'id', 1), // fresh
      'user:2': (await entryOf('users', 'id', 2)).replace('"Bob"', '"Robert"'), // value
      'user:3': 'n', // negativeButPresent
      'user:98': 'v{"email":"z@x","id":"98","name":"Zed"}', // presentButMissing
      'user:99': 'n', // fresh: no row
      'user:97': 'garbage', // foreign: not an entry
      'user:007': await entryOf('users', 'id', 7), // foreign: the cache renders 7, never 007
      'user:abc': 'n', // foreign: not an integer
      'user:email:a@x': 'v{}', // skipped: another template
      'user:list:1': 'v[]', // lists
      'item:A-1': await entryOf('items', 'sku', 'A-1'), // fresh
      'item:B-2': 'n', // negativeButPresent
      'item:C-3': 'n', // fresh
    });
    const logs: Array<Record<string, unknown>> = [];
    const before = Date.now();
    const report = await auditor(redis, { resources: [users(), items()] }, logs).run();
    const took = Date.now() - before;

    const usersCounts = {
      checked: 5,
      fresh: 2,
      stale: 2,
      negativeButPresent: 1,
      presentButMissing: 1,
      foreign: 3,
      lists: 1,
      skipped: 1,
    };
    const itemsCounts = { ...zero, checked: 3, fresh: 2, negativeButPresent: 1 };
    expect(report.resources).toStrictEqual({
      users: { table: `${db.name}.users`, pattern: `${p}:user:*`, ...usersCounts },
      items: { table: `${db.name}.items`, pattern: `${p}:item:*`, ...itemsCounts },
    });
    expect(report.total).toStrictEqual({
      checked: 8,
      fresh: 4,
      stale: 2,
      negativeButPresent: 2,
      presentButMissing: 1,
      foreign: 3,
      lists: 1,
      skipped: 1,
    });
    expect([...report.examples].sort((a, b) => a.key.localeCompare(b.key))).toStrictEqual([
      { resource: 'items', key: k('item:B-2'), kind: 'negativeButPresent' },
      { resource: 'users', key: k('user:2'), kind: 'value' },
      { resource: 'users', key: k('user:3'), kind: 'negativeButPresent' },
      { resource: 'users', key: k('user:98'), kind: 'presentButMissing' },
    ]);
    expect(report.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(report.elapsedMs).toBeLessThanOrEqual(took);
    expect(logs.filter((l) => l.msg === 'resource audited')).toStrictEqual([
      expect.objectContaining({ level: 20, component: 'audit', resource: 'users', ...usersCounts }),
      expect.objectContaining({ level: 20, component: 'audit', resource: 'items', ...itemsCounts }),
    ]);
  });

  it('nothing under the pattern: zero counts, no MGET', async () => {
    fresh();
    const r = recorded();
    const report = await auditor(r.client).run();
    expect(report.resources.users).toStrictEqual({
      table: `${db.name}.users`,
      pattern: `${p}:user:*`,
      ...zero,
    });
    expect(report.examples).toEqual([]);
    expect(r.mgets).toEqual([]);
  });

  it('only suspects are read again, after recheckDelayMs (default 200 ms): one fixed meanwhile is fresh, one deleted is not counted', async () => {
    fresh();
    await plant({
      'user:1': await entryOf('users', 'id', 1),
      'user:2': 'v{"id":"2"}',
      'user:3': 'n',
      'user:4': 'n',
    });
    const r = recorded({
      before: async (n) => {
        if (n !== 2) return;
        // Between the two reads the daemon's invalidation (or a new fill) lands.
        await redis.set(k('user:2'), await entryOf('users', 'id', 2));
        await redis.del(k('user:4'));
      },
    });
    // The recheck waits on the auditor's clock: recorded, not timed.
    const sleeps: Array<{ ms: number; readsBefore: number }> = [];
    const clock = {
      ...systemClock,
      sleep: (ms: number): Promise<void> => {
        sleeps.push({ ms, readsBefore: r.mgets.length });
        return Promise.resolve();
      },
    };
    const report = await auditor(r.client, { clock }, [], 'default delay').run();
    expect(r.mgets.map((m) => [...m.keys].sort())).toEqual([
      ['user:1', 'user:2', 'user:3', 'user:4'].map(k),
      ['user:2', 'user:3', 'user:4'].map(k),
    ]);
    expect(sleeps).toEqual([{ ms: 200, readsBefore: 1 }]);
    expect(report.resources.users).toMatchObject({
      ...zero,
      checked: 3,
      fresh: 2,
      negativeButPresent: 1,
    });
    expect(report.examples).toStrictEqual([
      { resource: 'users', key: k('user:3'), kind: 'negativeButPresent' },
    ]);
  });

  it('all fresh: one read, no second look', async () => {
    fresh();
    await plant({ 'user:1': await entryOf('users', 'id', 1), 'user:99': 'n' });
    const r = recorded();
    const report = await auditor(r.client).run();
    expect(r.mgets).toHaveLength(1);
    expect(report.total).toStrictEqual({ ...zero, checked: 2, fresh: 2 });
  });

  it('a key deleted between SCAN and its MGET is not counted', async () => {
    fresh();
    await plant({ 'user:1': await entryOf('users', 'id', 1), 'user:2': 'n' });
    const r = recorded({
      before: async (n) => {
        if (n === 1) await redis.del(k('user:2'));
      },
    });
    const report = await auditor(r.client).run();
    expect(report.total).toStrictEqual({ ...zero, checked: 1, fresh: 1 });
  });

  it('SCAN: every page followed with MATCH and COUNT 1000, a key returned twice audited once; MGETs of batchSize keys', async () => {
    fresh();
    await plant({
      'user:1': await entryOf('users', 'id', 1),
      'user:2': await entryOf('users', 'id', 2),
      'user:3': 'n',
      'user:4': await entryOf('users', 'id', 4),
      'user:91': 'n',
      'user:92': 'n',
    });
    const r = recorded({
      pages: {
        '0': ['17', ['user:1', 'user:2', 'user:list:1'].map(k)],
        '17': ['5', []],
        '5': ['0', ['user:2', 'user:3', 'user:4', 'user:91', 'user:92'].map(k)],
      },
    });
    const report = await auditor(r.client, { batchSize: 2, concurrency: 1 }).run();
    expect(r.scans).toEqual(
      ['0', '17', '5'].map((cursor) => [cursor, 'MATCH', `${p}:user:*`, 'COUNT', 1000]),
    );
    // Batches in SCAN order; the suspect (user:3) read again alone.
    expect(r.mgets.map((m) => m.keys)).toEqual([
      ['user:1', 'user:2'].map(k),
      ['user:3', 'user:4'].map(k),
      ['user:91', 'user:92'].map(k),
      [k('user:3')],
    ]);
    expect(report.total).toStrictEqual({
      ...zero,
      checked: 6,
      fresh: 5,
      negativeButPresent: 1,
      lists: 1,
    });
  });

  it('suspects are read again in batches of batchSize, and no more', async () => {
    fresh();
    // 7 suspects, batches of 3: 3 + 3 + 1, twice. And 6 (a multiple of the
    // batch): 3 + 3, twice, with no empty batch after.
    for (const ids of [
      [81, 82, 83, 84, 85, 86, 87],
      [61, 62, 63, 64, 65, 66],
    ]) {
      await plant(Object.fromEntries(ids.map((id) => [`user:${id}`, `v{"id":"${id}"}`])));
      const r = recorded({ pages: { '0': ['0', ids.map((id) => k(`user:${id}`))] } });
      const report = await auditor(r.client, { batchSize: 3 }).run();
      const sizes = ids.length === 7 ? [3, 3, 1] : [3, 3];
      expect(r.mgets.map((m) => m.keys.length)).toEqual([...sizes, ...sizes]);
      // Batches finish in any order (4 at once): the suspects, each once.
      expect(
        r.mgets
          .slice(sizes.length)
          .flatMap((m) => m.keys)
          .sort(),
      ).toEqual(ids.map((id) => k(`user:${id}`)));
      expect(report.total).toStrictEqual({
        ...zero,
        checked: ids.length,
        stale: ids.length,
        presentButMissing: ids.length,
      });
    }
  });

  it('without suspects there is no second look and no wait: with a recheck delay of an hour the run still ends at once', async () => {
    fresh();
    await plant({ 'user:1': await entryOf('users', 'id', 1), 'user:99': 'n' });
    const report = await auditor(redis, { recheckDelayMs: 3_600_000 }).run();
    expect(report.total).toStrictEqual({ ...zero, checked: 2, fresh: 2 });
  });

  it('a rule key with a hash tag (user:{{{id}}}, keys like user:{5}) fits its keys better than user:{id}: skipped', async () => {
    fresh();
    await plant({ 'user:{5}': 'v{}', 'user:5': 'n' });
    const report = await auditor(redis, {
      otherTemplates: [KeyTemplate.parse(`${p}:user:{{{id}}}`)],
      listTemplates: [],
    }).run();
    expect(report.total).toStrictEqual({ ...zero, checked: 1, fresh: 1, skipped: 1 });
  });

  it('a resource key naming a column the table lacks: the database says which', async () => {
    fresh();
    await plant({ 'user:5': 'n' });
    const run = auditor(redis, {
      resources: [{ ...users(), key: KeyTemplate.parse(`${p}:user:{uid}`) }],
    }).run();
    await expect(run).rejects.toThrow(/^Unknown column 'uid' in /);
  });

  it('at most MAX_EXAMPLES (20) examples, whatever the number of offending keys', async () => {
    fresh();
    const ids = Array.from({ length: 21 }, (_, i) => 200 + i);
    await plant(Object.fromEntries(ids.map((id) => [`user:${id}`, `v{"id":"${id}"}`])));
    const report = await auditor(redis).run();
    expect(report.total.stale).toBe(21);
    expect(report.examples).toHaveLength(20);
  });

  it('the default batch is 500 keys: 501 entries take two MGETs', async () => {
    fresh();
    const ids = Array.from({ length: 501 }, (_, i) => 1000 + i);
    await plant(Object.fromEntries(ids.map((id) => [`user:${id}`, 'n'])));
    const r = recorded();
    const report = await auditor(r.client).run();
    expect(r.mgets.map((m) => m.keys.length).sort((a, b) => a - b)).toEqual([1, 500]);
    expect(report.total).toStrictEqual({ ...zero, checked: 501, fresh: 501 });
  });

  it('sample: at most N entries per resource are audited (lists and other keys do not count)', async () => {
    fresh();
    await plant({ 'user:91': 'n', 'user:92': 'n', 'user:93': 'n', 'user:94': 'n' });
    const r = recorded({
      pages: {
        '0': [
          '3',
          ['user:list:1', 'user:91', 'user:email:a@x', 'user:92', 'user:93', 'user:94'].map(k),
        ],
        '3': ['0', [k('user:95')]],
      },
    });
    const report = await auditor(r.client, { sample: 3 }).run();
    expect(r.scans).toHaveLength(1);
    expect(r.mgets.map((m) => m.keys)).toEqual([['user:91', 'user:92', 'user:93'].map(k)]);
    expect(report.total).toStrictEqual({ ...zero, checked: 3, fresh: 3, lists: 1, skipped: 1 });
  });

  it('SCAN waits while as many batches as run at once are queued (memory stays bounded)', async () => {
    fresh();
    const ids = [91, 92, 93, 94, 95];
    await plant(Object.fromEntries(ids.map((id) => [`user:${id}`, 'n'])));
    // One key per page, so the pages fetched show how far SCAN went.
    const pages: Record<string, [string, string[]]> = {};
    ids.forEach((id, i) => {
      pages[String(i)] = [i === ids.length - 1 ? '0' : String(i + 1), [k(`user:${id}`)]];
    });
    // Each MGET waits until the test opens its gate.
    const gates = ids.map(() => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, opened };
    });
    const r = recorded({ before: (n) => gates[n - 1]?.opened, pages });
    const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const deadline = Date.now() + 10_000;
    const until = async (reads: number): Promise<void> => {
      while (r.mgets.length < reads && Date.now() < deadline) await settle();
      // Past the column query and each MGET, SCAN pages and batching are
      // promise callbacks only: this turn of the event loop takes the audit
      // as far as it goes while the MGET waits.
      await settle();
    };
    const done = auditor(r.client, { batchSize: 1, concurrency: 1 }).run();
    await until(1);
    expect(r.mgets).toHaveLength(1); // batch 1 running
    expect(r.scans).toHaveLength(2); // batch 2 queued: SCAN waits
    gates[0]?.open();
    await until(2);
    expect(r.mgets).toHaveLength(2); // batch 2 running
    expect(r.scans).toHaveLength(3); // batch 3 queued: SCAN waits again
    for (const g of gates) g.open();
    const report = await done;
    expect(r.scans).toHaveLength(5);
    expect(report.total).toStrictEqual({ ...zero, checked: 5, fresh: 5 });
  });

  it('a failing read rejects the run, and SCAN goes no further', async () => {
    fresh();
    await plant({ 'user:91': 'n', 'user:92': 'n', 'user:93': 'n' });
    const boom = new Error('boom');
    const r = recorded({
      before: (n) => {
        if (n === 1) throw boom;
      },
      pages: { '0': ['0', ['user:91', 'user:92', 'user:93'].map(k)] },
    });
    let readsThen = -1;
    await expect(
      auditor(r.client, { batchSize: 1, concurrency: 1 })
        .run()
        .finally(() => (readsThen = r.mgets.length)),
    ).rejects.toBe(boom);
    // The second batch was queued before the failure was known; the third never formed.
    expect(readsThen).toBeLessThanOrEqual(2);
    const deadline = Date.now() + 5000;
    while (r.mgets.length < 2 && Date.now() < deadline)
      await new Promise((res) => setImmediate(res));
    expect(r.mgets.map((m) => m.keys)).toEqual([[k('user:91')], [k('user:92')]]);
  });

  it('a failure in the last batch rejects the run too', async () => {
    fresh();
    await plant({ 'user:91': 'n' });
    const boom = new Error('boom');
    const r = recorded({
      before: () => {
        throw boom;
      },
    });
    await expect(auditor(r.client).run()).rejects.toBe(boom);
  });

  it('a cluster: every master scanned, entries read by slot', async () => {
    fresh();
    await plant({ 'user:1': await entryOf('users', 'id', 1), 'user:3': 'n', 'user:99': 'n' });
    const scans: string[] = [];
    const master = (host: string, keys: string[]) => ({
      options: { host, port: 7000 },
      scan: (cursor: string, ...rest: unknown[]) => {
        scans.push(`${host} ${cursor} ${rest.join(' ')}`);
        return Promise.resolve(['0', keys]);
      },
    });
    const a = master('a', [k('user:1'), k('user:3')]);
    const b = master('b', [k('user:99')]);
    const pipelines: string[][][] = [];
    const cluster = {
      isCluster: true,
      // Slots 0-8191 on a, the rest on b.
      slots: Array.from({ length: 16384 }, (_, s) => [s < 8192 ? 'a:7000' : 'b:7000']),
      nodes: (role: string) => (role === 'master' ? [a, b] : []),
      pipeline: (commands: string[][]) => {
        pipelines.push(commands);
        return redis.pipeline(commands);
      },
      refreshSlotsCache: () => undefined,
    } as unknown as Cluster;
    const report = await auditor(cluster).run();
    expect(scans.sort()).toEqual([
      `a 0 MATCH ${p}:user:* COUNT 1000`,
      `b 0 MATCH ${p}:user:* COUNT 1000`,
    ]);
    expect(pipelines.flat().every((c) => c[0] === 'mget')).toBe(true);
    expect(
      pipelines
        .flat()
        .flatMap((c) => c.slice(1))
        .sort(),
    ).toEqual(
      // user:3 (negative, its row exists) read again after the delay.
      ['user:1', 'user:3', 'user:3', 'user:99'].map(k).sort(),
    );
    expect(report.total).toStrictEqual({ ...zero, checked: 3, fresh: 2, negativeButPresent: 1 });
  });
});
