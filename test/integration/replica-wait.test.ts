import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatPosition } from '../../src/pipeline/position.js';
import { startDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { atOrAfter } from '../helpers/positions.js';
import { checkpointText, plant, survivors } from '../helpers/redis.js';
import { RedisServer } from '../helpers/redisServer.js';

/**
 * `redis.waitReplicas`: a round counts as acknowledged (and the checkpoint
 * may pass it) only once the replicas have it, on a private primary and
 * replica the test may pause.
 */
describe('redis.waitReplicas', () => {
  let db: TestDb;
  let primary: RedisServer;
  let replica: RedisServer;
  let redis: Redis;
  let replicaRedis: Redis;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    primary = await RedisServer.start();
    replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(primary.port)]);
    redis = primary.client();
    replicaRedis = replica.client();
    await vi.waitFor(
      async () => expect(await replicaRedis.info('replication')).toContain('master_link_status:up'),
      { timeout: 20_000, interval: 50 },
    );
  });

  afterAll(async () => {
    redis.disconnect();
    replicaRedis.disconnect();
    await replica.stop();
    await primary.stop();
    await db.drop();
  });

  it('with the replica paused nothing counts as acknowledged and the checkpoint stays; it moves once the replica has the deletes', async () => {
    const p = `rw${randomId()}`;
    const daemon = await startDaemon(
      { [`${db.name}.t`]: [`${p}:t:{id}`] },
      { redis: () => primary.client(), replicaWait: { replicas: 1, timeoutMs: 100 } },
    );
    try {
      await db.sql('INSERT INTO t VALUES (1, 1)');
      const first = await db.headText();
      await vi.waitFor(
        async () =>
          expect(atOrAfter(await checkpointText(replicaRedis, daemon.source), first)).toBe(true),
        { timeout: 10_000 },
      );

      const keys = await plant(redis, [`${p}:t:2`, `${p}:t:3`]);
      await vi.waitFor(async () => expect(await survivors(replicaRedis, keys)).toEqual(keys));
      process.kill(replica.pid ?? 0, 'SIGSTOP');
      try {
        await db.sql('INSERT INTO t VALUES (2, 1), (3, 1)');
        const rows = await db.headText();
        // The primary deleted them, but the round is not acknowledged: WAIT
        // times out, the round is retried, the checkpoint stays put.
        await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]));
        await vi.waitFor(() => expect(daemon.invalidator.sinkStats.retries).toBeGreaterThan(2), {
          timeout: 10_000,
        });
        // Never past the deletes the replica lacks.
        expect(atOrAfter(await checkpointText(redis, daemon.source), rows)).toBe(false);
        const stored = daemon.invalidator.storedCheckpoint?.position;
        expect(atOrAfter(stored === undefined ? null : formatPosition(stored), rows)).toBe(false);
      } finally {
        process.kill(replica.pid ?? 0, 'SIGCONT');
      }
      const head = await db.headText();
      await vi.waitFor(
        async () =>
          expect(atOrAfter(await checkpointText(replicaRedis, daemon.source), head)).toBe(true),
        { timeout: 10_000 },
      );
      expect(await survivors(replicaRedis, keys)).toEqual([]);
    } finally {
      await daemon.stop();
    }
  });
});
