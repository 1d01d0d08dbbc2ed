import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BusSubscriber } from '../../src/bus/BusSubscriber.js';
import { parseFenceToken, type FenceToken } from '../../src/bus/Watermark.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { checkpointCommand } from '../../src/pipeline/checkpoint/checkpointCommand.js';
import { encodeCheckpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { identityText, probePrimary } from '../../src/pipeline/checkpoint/PrimaryWatch.js';
import { formatPosition, position } from '../../src/pipeline/position.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { atOrAfter } from '../helpers/positions.js';
import { checkpointText, collectMessages, plant, survivors } from '../helpers/redis.js';
import { RedisServer } from '../helpers/redisServer.js';
import { TcpProxy } from '../helpers/tcpProxy.js';

/**
 * A Redis that comes back as another server with an older dataset: the
 * daemon re-streams from the checkpoint stored there. A restart from a
 * snapshot taken before a burst is the same thing as a failover to a
 * replica that missed the burst (an older dataset, with the older
 * checkpoint that replication kept in order with it), on a private
 * redis-server that the test may kill.
 */
describe('a Redis primary change (restart from an older snapshot)', () => {
  let db: TestDb;
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    server = await RedisServer.start();
    redis = server.client();
  });

  afterAll(async () => {
    redis.disconnect();
    await server.stop();
    await db.drop();
  });

  it('a checkpoint write built for another primary or dataset is refused and changes nothing', async () => {
    const key = RedisKeys.checkpoint(`pc-${randomId()}`);
    const checkpoint = { position: position('binlog.000009', 400), gtid: undefined };
    const json = encodeCheckpoint(checkpoint);
    const write = (primary: string | null) => ({ checkpoint, key, json, fence: null, primary });
    const here = identityText(await probePrimary(redis, key));
    expect(await redis.call(...checkpointCommand(write(`${here.split(':')[0]}:0000`)))).toBe(-1);
    expect(await redis.call(...checkpointCommand(write(`0000:${here.split(':')[1]}`)))).toBe(-1);
    expect(await redis.get(key)).toBe(null);
    expect(await redis.call(...checkpointCommand(write(here)))).toBe(1);
    expect(await redis.get(key)).toBe(json);
  });

  it('the daemon re-streams from the checkpoint the new dataset holds: 0 stale keys, then an L1 reset is announced', async () => {
    const p = `pc${randomId()}`;
    // The daemon reaches Redis through a proxy, so the test decides when it
    // sees the new server (after the test's own subscriber is back).
    const proxy = await TcpProxy.start('127.0.0.1', server.port);
    let daemon: TestDaemon | null = null;
    const readerConnection = server.client();
    try {
      daemon = await startDaemon(
        { [`${db.name}.t`]: [`${p}:t:{id}`] },
        {
          redis: () => {
            const c = new Redis(`redis://127.0.0.1:${proxy.listenPort}`, {
              maxRetriesPerRequest: 1,
              retryStrategy: () => 50,
            });
            c.on('error', () => undefined);
            return c;
          },
        },
      );
      const { source, channel } = daemon;
      // A reader's bus subscriber (straight to the server): its watermark must
      // stop vouching for the burst once the daemon re-streams.
      const resets: string[] = [];
      let passedAtRestart: boolean | null = null;
      const reader: BusSubscriber = new BusSubscriber({
        connection: readerConnection,
        channel,
        heartbeatMs: 1000,
        requireHeartbeat: false,
        logger: pino({ level: 'silent' }),
        listener: {
          onKeys: () => undefined,
          onPatterns: () => undefined,
          onReset: (reason) => {
            resets.push(reason);
            if (reason === 'restart') passedAtRestart = reader.passed(source, burstEnd());
          },
        },
      });
      let burstToken: FenceToken | null = null;
      const burstEnd = (): FenceToken => burstToken ?? parseFenceToken('binlog.999999:4');
      await reader.start();
      await db.sql('INSERT INTO t VALUES (0, 0)');
      const first = await db.headText();
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(redis, source), first)).toBe(true),
        {
          timeout: 10_000,
        },
      );
      const keys = await plant(
        redis,
        Array.from({ length: 2000 }, (_, i) => `${p}:t:${i + 1}`),
      );
      await redis.save(); // the older dataset: stale values, checkpoint before the burst

      // The end of the burst's first transaction: the old dataset's checkpoint is before it.
      let firstTx: string | null = null;
      for (let i = 1; i <= 2000; i += 500) {
        const rows = Array.from({ length: 500 }, (_, j) => `(${i + j}, 1)`);
        await db.sql(`INSERT INTO t VALUES ${rows.join(',')}`);
        firstTx ??= await db.headText();
      }
      const head = await db.headText();
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(redis, source), head)).toBe(true),
        {
          timeout: 20_000,
        },
      );
      expect(await survivors(redis, keys)).toEqual([]);
      burstToken = parseFenceToken(head);
      await vi.waitFor(() => expect(reader.passed(source, burstEnd())).toBe(true), {
        timeout: 10_000,
      });

      await proxy.down();
      await server.restart();
      // What a failover to a lagging replica leaves: the stale values and the old checkpoint.
      expect(await survivors(redis, keys)).toHaveLength(2000);
      expect(firstTx).not.toBe(null);
      expect(atOrAfter(await checkpointText(redis, source), String(firstTx))).toBe(false);
      const messages = await collectMessages(channel, { redisUrl: server.url });
      await vi.waitFor(() => expect(reader.isSubscribed).toBe(true), { timeout: 10_000 });
      try {
        await proxy.up();
        await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
          timeout: 20_000,
          interval: 50,
        });
        await vi.waitFor(
          async () => expect(atOrAfter(await checkpointText(redis, source), head)).toBe(true),
          {
            timeout: 20_000,
          },
        );
        // The re-streamed batches, then the reset (flush, no patterns: nothing deleted).
        await vi.waitFor(() => expect(messages.messages.some((m) => m.flush === true)).toBe(true), {
          timeout: 10_000,
        });
        const reset = messages.messages.findIndex((m) => m.flush === true);
        expect(messages.messages[reset]).not.toHaveProperty('patterns');
        const announcedBefore = new Set(
          messages.messages.slice(0, reset).flatMap((m) => (m.keys as string[] | undefined) ?? []),
        );
        expect(keys.filter((k) => !announcedBefore.has(k))).toEqual([]);
        const stored = daemon.invalidator.storedCheckpoint?.position;
        expect(atOrAfter(stored === undefined ? null : formatPosition(stored), head)).toBe(true);
        expect(daemon.invalidator.stats.redisPrimaryChanges).toBe(1);
        // A new run of the sequence: the reader took it for a publisher
        // restart, and its watermark no longer vouched for the burst until
        // the re-stream had invalidated it again.
        expect(messages.messages.find((m) => m.type !== 'hb')?.seq).toBe(1);
        expect(resets).toContain('restart');
        expect(passedAtRestart).toBe(false);
        await vi.waitFor(() => expect(reader.passed(source, burstEnd())).toBe(true), {
          timeout: 10_000,
        });
        let settled = false;
        void daemon.invalidator.done.then(
          () => (settled = true),
          () => (settled = true),
        );
        await Promise.resolve();
        expect(settled).toBe(false); // still running
      } finally {
        await messages.close();
        await reader.close();
      }
    } finally {
      readerConnection.disconnect();
      await daemon?.stop();
      await proxy.down();
    }
  });
});
