import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import type { Invalidator, InvalidatorOptions } from '../../src/pipeline/Invalidator.js';
import { formatPosition } from '../../src/pipeline/position.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
import { plant, survivors, testRedis } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcpProxy.js';

/**
 * Redis unreachable while rows stream, in process: the keys read stay
 * unacknowledged. Rule 4: past `maxInFlightKeys` the daemon pauses the
 * binlog (memory bounded by pausing, nothing dropped) and resumes at half,
 * once Redis answers again. A graceful stop sends what was read before it
 * returns. The daemon's Redis client goes through a proxy the test cuts;
 * the chaos suite does the same to a whole process (a paused Redis with
 * 200,000 rows, SIGTERM during a burst).
 */
describe('backpressure: Redis unreachable while rows stream', () => {
  const MAX_IN_FLIGHT = 50;
  const PER_TX = 20;
  const TXS = 10;
  let db: TestDb;
  let redis: Redis;
  let proxy: TcpProxy;
  let daemon: TestDaemon | undefined;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
  });

  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await proxy?.close();
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  /** A daemon for `t` (keys `<p>:{id}`, `p` new) whose Redis client goes through a new proxy; its info lines. */
  async function daemonBehindProxy(
    prefix: string,
    invalidation: Partial<InvalidatorOptions['invalidation']> = {},
  ): Promise<{
    p: string;
    lines: Array<Record<string, unknown>>;
    inv: Invalidator;
    source: string;
  }> {
    const p = `${prefix}${randomId()}`;
    const target = new URL(testEnv.redisUrl);
    proxy = await TcpProxy.start(target.hostname, Number(target.port));
    const { logger, lines } = capturedLogger('info');
    daemon = await startDaemon(
      { [`${db.name}.t`]: [`${p}:{id}`] },
      {
        invalidation,
        redis: () => {
          const client = new Redis(`redis://127.0.0.1:${proxy.listenPort}`, {
            maxRetriesPerRequest: 1,
          });
          client.on('error', () => undefined);
          return client;
        },
        logger,
      },
    );
    return { p, lines, inv: daemon.invalidator, source: daemon.source };
  }

  it(`pauses past ${MAX_IN_FLIGHT} unacknowledged keys, holds at most one more transaction, resumes and deletes every key`, async () => {
    const { p, lines, inv } = await daemonBehindProxy('bp', {
      maxInFlightKeys: MAX_IN_FLIGHT,
      batchMaxKeys: 10,
    });
    const keys = Array.from({ length: PER_TX * TXS }, (_, i) => `${p}:${i + 1}`);
    await plant(redis, keys);

    await proxy.down();
    for (let tx = 0; tx < TXS; tx++) {
      const rows = Array.from({ length: PER_TX }, (_, i) => `(${tx * PER_TX + i + 1}, 0)`);
      await db.sql(`INSERT INTO t VALUES ${rows.join(', ')}`);
    }
    const head = await db.head();

    await vi.waitFor(() => expect(inv.paused).toBe(true), { timeout: 15_000, interval: 20 });
    // Paused right after the transaction that crossed the line: the rest stays in MariaDB.
    const [pausing] = lines.filter((l) => l.msg === 'backpressure: pausing the binlog');
    expect(Number(pausing?.inFlightKeys)).toBeGreaterThan(MAX_IN_FLIGHT);
    expect(Number(pausing?.inFlightKeys)).toBeLessThanOrEqual(MAX_IN_FLIGHT + PER_TX);
    expect(inv.inFlightKeys).toBeLessThanOrEqual(MAX_IN_FLIGHT + PER_TX);
    expect(inv.stats.rows).toBeLessThan(PER_TX * TXS);
    expect(await survivors(redis, keys)).toEqual(keys);

    await proxy.up();
    await vi.waitFor(() => expect(inv.storedCheckpoint?.position).toEqual(head), {
      timeout: 20_000,
      interval: 50,
    });
    expect(await survivors(redis, keys)).toEqual([]);
    expect(inv.paused).toBe(false);
    expect(inv.inFlightKeys).toBe(0);
    expect(inv.stats.rows).toBe(PER_TX * TXS);
    const released = lines.filter((l) => l.msg === 'backpressure released: resuming the binlog');
    expect(released.length).toBeGreaterThanOrEqual(1);
    expect(Number(released[0]?.inFlightKeys)).toBeLessThanOrEqual(MAX_IN_FLIGHT / 2);
  });
  it('stop() while Redis is cut off: returns once the keys read are deleted and the checkpoint stored; the status record removed', async () => {
    const { p, lines, inv, source } = await daemonBehindProxy('st');
    const ids = [1001, 1002, 1003, 1004, 1005];
    const keys = ids.map((id) => `${p}:${id}`);
    await plant(redis, keys);
    const status = RedisKeys.status(source);
    await vi.waitFor(async () => expect(await redis.exists(status)).toBe(1), {
      timeout: 15_000,
      interval: 50,
    });

    await proxy.down();
    for (const id of ids) await db.sql('INSERT INTO t VALUES (?, 1)', [id]);
    const head = await db.head();
    await vi.waitFor(() => expect(inv.stats.transactions).toBe(ids.length), {
      timeout: 15_000,
      interval: 20,
    });
    expect(await survivors(redis, keys)).toEqual(keys);

    const stopping = inv.stop(20_000);
    await proxy.up();
    await stopping;
    await expect(inv.done).resolves.toBeUndefined();
    expect(await survivors(redis, keys)).toEqual([]);
    expect(inv.storedCheckpoint?.position).toEqual(head);
    expect(await redis.exists(status)).toBe(0);
    expect(lines.filter((l) => l.msg === 'pipeline stopped')).toEqual([
      expect.objectContaining({
        component: 'pipeline',
        checkpoint: formatPosition(head),
        rows: ids.length,
        transactions: ids.length,
      }),
    ]);
  });
});
