import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { createPool, type Pool, type RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { createLogger } from '../../src/infra/logger.js';
import { SecondDeleteQueue } from '../../src/jobs/SecondDeleteQueue.js';
import { SecondDeleteWorker } from '../../src/jobs/SecondDeleteWorker.js';
import { WriteBehindQueue } from '../../src/jobs/WriteBehindQueue.js';
import { WriteBehindWorker } from '../../src/jobs/WriteBehindWorker.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { FakePublisher, testCache } from '../helpers/cache.js';
import { CliProcess, writeConfig } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcpProxy.js';

type LogLine = Record<string, unknown>;

/**
 * The durable jobs on real Redis and MariaDB: write-behind (the cache holds
 * the value at once, a BullMQ worker writes the database, retries through an
 * outage, and on final failure invalidates the key everywhere) and the
 * delayed second delete fed by the daemon's sink (deletes a value re-planted
 * after the first delete, and survives a restart of its worker).
 */
describe('durable jobs (BullMQ)', () => {
  let db: TestDb;
  let redis: Redis;
  let proxy: TcpProxy;
  /** This test's key prefix, BullMQ prefix and channel. */
  let p: string;
  let prefix: string;
  let channel: string;
  const open: Array<() => Promise<void>> = [];

  const BIG = 18446744073709551615n; // BIGINT UNSIGNED max: exact only as a BigInt

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    // The worker reaches MariaDB through a proxy: an outage is the proxy going
    // down, never the shared server.
    const target = new URL(testEnv.appUrl);
    proxy = await TcpProxy.start(target.hostname, Number(target.port));
    await db.sql(
      'CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(64), n BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB',
    );
  });

  beforeEach(() => {
    p = `jb${randomId()}`;
    prefix = `sluice-test-${p}`;
    channel = `sluice:test:${p}`;
  });

  afterEach(async () => {
    // Reverse order of opening: workers and queues before their connections.
    for (const close of open.splice(0).reverse()) await close();
    await proxy.up();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(keys);
    } while (cursor !== '0');
  });

  afterAll(async () => {
    await proxy.close();
    await db.drop();
    redis.disconnect();
  });

  /** A connection as BullMQ needs it (no per-request retry limit), closed after the test. */
  function bullConnection(): Redis {
    const conn = new Redis(testEnv.redisUrl, { maxRetriesPerRequest: null });
    open.push(async () => {
      conn.disconnect();
      return Promise.resolve();
    });
    return conn;
  }

  /** A fail-fast connection for a producer (as the cache library would use), closed after the test. */
  function producerConnection(): Redis {
    const conn = testRedis();
    open.push(async () => {
      conn.disconnect();
      return Promise.resolve();
    });
    return conn;
  }

  /** A logger whose JSON lines land in `lines`. */
  function capturedLogger(): { logger: Logger; lines: LogLine[] } {
    const lines: LogLine[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
    });
    return { logger, lines };
  }

  /** A pool of the app user on this test's database, through the proxy. */
  function appPool(): Pool {
    const u = new URL(testEnv.appUrl);
    u.port = String(proxy.listenPort);
    u.pathname = `/${db.name}`;
    const pool = createPool({
      ...mysqlConnectionOptions(u.toString()),
      connectionLimit: 2,
      connectTimeout: 2000,
    });
    open.push(() => pool.end());
    return pool;
  }

  /** The write-behind pieces: a cache that enqueues, the queue, and a worker (not started). */
  async function writeBehind(options: { attempts?: number; backoffMs?: number } = {}) {
    const { logger, lines } = capturedLogger();
    const queue = new WriteBehindQueue({ connection: producerConnection(), prefix, ...options });
    open.push(() => queue.close());
    const t = await testCache({ channel, writeBehind: queue, l1: false });
    open.push(t.close);
    const pool = appPool();
    const worker = new WriteBehindWorker({
      connection: bullConnection(),
      prefix,
      pool,
      channel,
      logger,
    });
    open.push(() => worker.close());
    return { cache: t.cache, queue, worker, pool, logs: lines };
  }

  async function row(id: bigint | number): Promise<{ v: string; n: string } | undefined> {
    const rows = await db.sql<RowDataPacket[]>('SELECT v, n FROM t WHERE id = ?', [String(id)]);
    const r = rows[0];
    return r === undefined ? undefined : { v: String(r.v), n: String(r.n) };
  }

  it('write-behind: the cache holds the value at once; the worker writes the row, BigInt exact', async () => {
    await db.sql(`INSERT INTO t (id, v) VALUES (${BIG}, 'old'), (${BIG - 1n}, 'old')`);
    const { cache, queue, worker } = await writeBehind();
    const key = `${p}:t:${BIG}`;

    await cache.writeBehind(
      key,
      { v: 'new' },
      // `n + ?` with 2^62 + 1 (no double holds it): exact only if the BigInt reaches MySQL as an integer.
      { sql: 'UPDATE t SET v = ?, n = n + ? WHERE id = ?', params: ['new', 2n ** 62n + 1n, BIG] },
    );
    // Before any worker runs: the cache has the value, the database does not, the job waits.
    expect(await cache.get(key)).toEqual({ v: 'new' });
    expect(await row(BIG)).toEqual({ v: 'old', n: '0' });
    expect(await queue.bull.getWaitingCount()).toBe(1);

    await worker.start();
    await vi.waitFor(
      async () => expect(await row(BIG)).toEqual({ v: 'new', n: '4611686018427387905' }),
      {
        timeout: 5000,
        interval: 20,
      },
    );
    expect(await row(BIG - 1n)).toEqual({ v: 'old', n: '0' }); // the neighbour id is untouched
    // Completed jobs are removed; nothing failed; the cached value stays.
    await vi.waitFor(async () =>
      expect(
        await queue.bull.getJobCounts('wait', 'active', 'delayed', 'completed', 'failed'),
      ).toEqual({ wait: 0, active: 0, delayed: 0, completed: 0, failed: 0 }),
    );
    expect(worker.stats).toEqual({ completed: 1, retried: 0, failed: 0 });
    expect(await cache.get(key)).toEqual({ v: 'new' });
  });

  it('write-behind through a database outage: attempts fail, are retried with backoff, then succeed', async () => {
    await db.sql(`INSERT INTO t (id, v) VALUES (2, 'old')`);
    const { cache, worker, pool, logs } = await writeBehind({ backoffMs: 100 });
    const key = `${p}:t:2`;
    await pool.query('SELECT 1'); // the pool holds an open connection when the outage begins

    await proxy.down(); // open connections are cut, new ones refused
    await worker.start();
    await cache.writeBehind(
      key,
      { v: 'new' },
      { sql: 'UPDATE t SET v = ? WHERE id = ?', params: ['new', 2] },
    );
    // Two real failures (ECONNREFUSED) before the database comes back.
    await vi.waitFor(() => expect(worker.stats.retried).toBeGreaterThanOrEqual(2), {
      timeout: 5000,
      interval: 10,
    });
    expect(await row(2)).toEqual({ v: 'old', n: '0' });
    const failures = logs.filter((l) => l.msg === 'write-behind attempt failed; retrying');
    expect(failures.some((l) => String(l.err).includes('ECONNREFUSED'))).toBe(true);

    await proxy.up();
    await vi.waitFor(async () => expect(await row(2)).toEqual({ v: 'new', n: '0' }), {
      timeout: 5000,
      interval: 20,
    });
    await vi.waitFor(() => expect(worker.stats.completed).toBe(1));
    const done = logs.find((l) => l.msg === 'write-behind job succeeded after retries');
    expect(done?.key).toBe(key);
    expect(done?.attempts as number).toBeGreaterThan(2); // attemptsMade > 1 when it succeeded
    expect(worker.stats.failed).toBe(0);
    expect(logs.some((l) => l.code === 'E_WRITE_BEHIND_FAILED')).toBe(false);
    expect(await cache.get(key)).toEqual({ v: 'new' });
  });

  it('write-behind that finally fails: key and lease invalidated, L1 of another process dropped, job in the failed set, E_WRITE_BEHIND_FAILED logged', async () => {
    const { cache, queue, worker, logs } = await writeBehind({ attempts: 2, backoffMs: 50 });
    const key = `${p}:t:3`;
    // Another process reading through L1 (a fake daemon heartbeat makes its L1 usable).
    const daemon = new FakePublisher(channel);
    daemon.startHeartbeats(100);
    open.push(() => Promise.resolve(daemon.close()));
    const reader = await testCache({ channel, heartbeatMs: 1000 });
    open.push(reader.close);
    await vi.waitFor(() => expect(reader.cache.l1Usable).toBe(true));
    const bus = await collectMessages(channel);
    open.push(bus.close);

    // The table does not exist: every attempt fails (ER_NO_SUCH_TABLE, retryable).
    const sql = 'UPDATE t_missing SET v = ? WHERE id = ?';
    await cache.writeBehind(key, { v: 'never-stored' }, { sql, params: ['secret-value-77', 3] });
    const fromDb = (): Promise<{ v: string }> => Promise.resolve({ v: 'from-db' });
    expect((await reader.cache.read(key, fromDb)).source).toBe('l2');
    expect((await reader.cache.read(key, fromDb)).source).toBe('l1');
    await redis.set(RedisKeys.lease(key), 'a-reader-fill-in-flight');

    await worker.start();
    await vi.waitFor(async () => expect(await queue.bull.getFailedCount()).toBe(1), {
      timeout: 5000,
      interval: 20,
    });
    const [failed] = await queue.bull.getFailed();
    expect(failed?.data.key).toBe(key);
    expect(failed?.attemptsMade).toBe(2);

    // Gone from Redis (value and lease), and announced on the bus with that key.
    await vi.waitFor(async () =>
      expect(await survivors(redis, [key, RedisKeys.lease(key)])).toEqual([]),
    );
    await vi.waitFor(() =>
      expect(
        bus.messages.some(
          (m) => String(m.src).startsWith('write-behind:') && (m.keys as string[]).includes(key),
        ),
      ).toBe(true),
    );
    // The other process's L1 dropped it: its next read goes to the database.
    await vi.waitFor(async () => {
      const r = await reader.cache.read(key, fromDb);
      expect(r.source).toBe('miss');
      expect(r.entry).toEqual({ present: true, value: { v: 'from-db' } });
    });

    const line = logs.find((l) => l.code === 'E_WRITE_BEHIND_FAILED');
    expect(line).toMatchObject({ level: 'error', key, sql, attempts: 2, invalidated: true });
    expect(line?.errCode).toBe('ER_NO_SUCH_TABLE');
    // Never a parameter value in any log line.
    expect(JSON.stringify(logs)).not.toContain('secret-value-77');
    expect(worker.stats).toEqual({ completed: 0, retried: 1, failed: 1 });
  });

  it('a statement that cannot parse fails at once, without spending its retries', async () => {
    const { cache, queue, worker, logs } = await writeBehind({ attempts: 8, backoffMs: 1000 });
    const key = `${p}:t:4`;
    await worker.start();
    await cache.writeBehind(key, 1, { sql: 'UPDATE t SET v = ? WHERE', params: ['x'] });
    await vi.waitFor(async () => expect(await queue.bull.getFailedCount()).toBe(1), {
      timeout: 3000,
      interval: 20,
    });
    const [failed] = await queue.bull.getFailed();
    expect(failed?.attemptsMade).toBe(1);
    expect(await redis.exists(key)).toBe(0);
    expect(logs.find((l) => l.code === 'E_WRITE_BEHIND_FAILED')?.errCode).toBe('ER_PARSE_ERROR');
  });

  it('second delete: a value re-planted after the daemon deleted the key is deleted again after secondDeleteMs', async () => {
    await db.sql(`INSERT INTO t (id, v) VALUES (5, 'a')`);
    const queue = new SecondDeleteQueue({
      connection: bullConnection(),
      prefix,
      delayMs: 300,
      logger: capturedLogger().logger,
    });
    open.push(() => queue.close());
    let daemon: TestDaemon | undefined = await startDaemon(
      { [`${db.name}.t`]: [`${p}:t:{id}`] },
      { secondDelete: queue },
    );
    open.push(() => daemon?.stop() ?? Promise.resolve());
    const worker = new SecondDeleteWorker({
      connection: bullConnection(),
      prefix,
      channel: daemon.channel,
      logger: capturedLogger().logger,
    });
    open.push(() => worker.close());
    await worker.start();
    await worker.waitUntilReady();
    const bus = await collectMessages(daemon.channel);
    open.push(bus.close);

    const key = `${p}:t:5`;
    const kept = await plant(redis, [`${p}:t:6`]);
    await plant(redis, [key]);
    await db.sql(`UPDATE t SET v = 'b' WHERE id = 5`);
    await vi.waitFor(async () => expect(await redis.exists(key)).toBe(0), {
      timeout: 5000,
      interval: 5,
    });
    // A racing writer sets the old value (and a reader its lease) after the first delete.
    await plant(redis, [key, RedisKeys.lease(key)], 'stale');
    expect(await redis.get(key)).toBe('stale');

    await vi.waitFor(
      async () => expect(await survivors(redis, [key, RedisKeys.lease(key)])).toEqual([]),
      {
        timeout: 5000,
        interval: 5,
      },
    );
    // It was the delayed job: the worker published it under its own src, after the
    // deletes were acknowledged, so the message may land a moment after the keys are
    // gone. (No wall-clock assertion on the delay: on a loaded machine the first poll
    // may see the ack late.)
    const second = () => bus.messages.filter((m) => m.src === worker.publisherId);
    await vi.waitFor(() => expect(second().length).toBeGreaterThan(0), { timeout: 5000 });
    expect(second().map((m) => m.keys)).toEqual([[key]]);
    expect(queue.stats).toEqual({ scheduled: 1, dropped: 0 });
    expect(await survivors(redis, kept)).toEqual(kept);
    await daemon.stop();
    daemon = undefined;
  });

  it('second delete is durable: a job scheduled before a restart runs after it', async () => {
    const keys = await plant(redis, [`${p}:a`, `${p}:b`]);
    const kept = await plant(redis, [`${p}:c`]);
    const first = {
      queue: new SecondDeleteQueue({
        connection: bullConnection(),
        prefix,
        delayMs: 300,
        logger: capturedLogger().logger,
      }),
      worker: new SecondDeleteWorker({
        connection: bullConnection(),
        prefix,
        channel,
        logger: capturedLogger().logger,
      }),
    };
    await first.worker.start();
    await first.worker.waitUntilReady();
    // The daemon stops with a job not yet run. Its worker stops first here, so
    // that "before the job was due" does not depend on how fast a busy
    // machine closes a worker (300 ms).
    await first.worker.close();
    await first.queue.add(keys);
    const due = Date.now() + 300; // the job is due no later than this
    await first.queue.close();
    expect(first.worker.stats.jobs).toBe(0);

    // While no worker runs the job waits in Redis, even past its due time.
    const probe = new SecondDeleteQueue({
      connection: bullConnection(),
      prefix,
      delayMs: 300,
      logger: capturedLogger().logger,
    });
    open.push(() => probe.close());
    expect(await probe.bull.getDelayedCount()).toBe(1);
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(due + 100), { timeout: 2000 });
    expect(await survivors(redis, keys)).toEqual(keys);

    const bus = await collectMessages(channel);
    open.push(bus.close);
    const restarted = new SecondDeleteWorker({
      connection: bullConnection(),
      prefix,
      channel,
      logger: capturedLogger().logger,
    });
    open.push(() => restarted.close());
    await restarted.start();
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
      timeout: 5000,
      interval: 10,
    });
    await vi.waitFor(() =>
      expect(
        bus.messages.filter((m) => m.src === restarted.publisherId).map((m) => m.keys),
      ).toEqual([keys]),
    );
    expect(await survivors(redis, kept)).toEqual(kept);
    expect(await probe.bull.getJobCounts('delayed', 'wait', 'completed', 'failed')).toEqual({
      delayed: 0,
      wait: 0,
      completed: 0,
      failed: 0,
    });
  });

  it('`sluice run` hosts both workers: a write-behind job is written, a re-planted key deleted twice; SIGTERM exits 0', async () => {
    await db.sql(`INSERT INTO t (id, v) VALUES (7, 'old'), (8, 'a')`);
    const source = `jobs-${randomId()}`;
    const daemonChannel = `sluice:test:${source}`;
    const cfg = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  startFrom: end
  heartbeatMs: 500
database:
  url: ${testEnv.appUrl}/${db.name}
redis:
  url: ${testEnv.redisUrl}
invalidation:
  channel: ${daemonChannel}
  secondDeleteMs: 300
rules:
  - table: ${db.name}.t
    keys: ["${p}:t:{id}"]
`);
    // Clean up the daemon's queues (under its own prefix) after the test.
    prefix = RedisKeys.jobsPrefix(source);
    const daemon = new CliProcess(['run', '--config', cfg]);
    open.push(async () => {
      daemon.kill('SIGKILL');
      await daemon.exited;
    });
    await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), {
      timeout: 15_000,
    });
    expect(daemon.stdout).toContain('write-behind worker started');
    expect(daemon.stdout).toContain('second-delete worker started');

    // Write-behind through the daemon's queue.
    const queue = new WriteBehindQueue({ connection: producerConnection(), prefix });
    open.push(() => queue.close());
    await queue.enqueue({
      key: `${p}:t:7`,
      sql: 'UPDATE t SET v = ? WHERE id = ?',
      params: ['new', 7],
    });
    await vi.waitFor(async () => expect(await row(7)).toEqual({ v: 'new', n: '0' }), {
      timeout: 5000,
      interval: 20,
    });

    // Second delete: re-plant after the first delete; the daemon's delayed job removes it.
    const key = `${p}:t:8`;
    await plant(redis, [key]);
    await db.sql(`UPDATE t SET v = 'b' WHERE id = 8`);
    await vi.waitFor(async () => expect(await redis.exists(key)).toBe(0), {
      timeout: 5000,
      interval: 5,
    });
    await plant(redis, [key], 'stale');
    await vi.waitFor(async () => expect(await redis.exists(key)).toBe(0), {
      timeout: 5000,
      interval: 10,
    });

    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    expect(exit.code).toBe(0);
    expect(daemon.stdout).toContain('second-delete worker stopped');
    expect(daemon.stdout).toContain('write-behind worker stopped');
  });
});
