import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { position } from '../../src/pipeline/position.js';
import { Replayer } from '../../src/pipeline/replay/Replayer.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { plant, survivors, testRedis } from '../helpers/redis.js';

/** When a replay's keys leave its open batch: it has no checkpoint, so no commit seals them. */
describe('replay batching', () => {
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

  it("a transaction's keys are deleted while the replay goes on, not held until it ends", async () => {
    const p = `r${randomId()}`;
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    const from = await db.head();
    await db.sql('INSERT INTO t VALUES (1, 1)');
    const gone = await plant(redis, [`${p}:t:1`]);
    const kept = await plant(redis, [`${p}:t:2`]);
    const replayer = new Replayer({
      url: testEnv.sourceUrl,
      serverId: randomServerId(),
      // The range ends far past the binlog's end: the replay reads on until
      // the server's heartbeat says it is caught up, 60 s after the last event.
      heartbeatMs: 60_000,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      logger: pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' }),
      rules: [
        { table: `${db.name}.t`, keys: [KeyTemplate.parse(`${p}:t:{id}`, 'rules.t.keys[0]')] },
      ],
      from,
      to: position(from.file, 4_000_000_000),
      invalidate: {
        redis,
        channel: `sluice:test:${p}`,
        src: `replay-${p}`,
        batchMaxKeys: 500,
        batchMaxDelayMs: 2,
        maxInFlightKeys: 100_000,
      },
    });
    const run = replayer.run();
    try {
      await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]), {
        timeout: 5000,
      });
      expect(await survivors(redis, kept)).toEqual(kept);
    } finally {
      await replayer.stop();
    }
    const stats = await run;
    expect(stats.rows).toBe(1);
    expect(stats.keys).toBe(1);
  });
});
