import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BusSubscriber } from '../../src/bus/BusSubscriber.js';
import { parseFenceToken, type FenceToken } from '../../src/bus/Watermark.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { checkpointCommand } from '../../src/pipeline/checkpoint/checkpointCommand.js';
import { encodeCheckpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { identityText, probePrimary } from '../../src/pipeline/checkpoint/PrimaryWatch.js';
import { formatPosition, position } from '../../src/pipeline/position.js';
import { startDaemon, stillRunning, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
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

  /**
   * A daemon for `t` (keys `<p>:t:{id}`) on a private redis-server that can
   * take a new replication id without dropping a connection (DEBUG
   * CHANGE-REPL-ID, so no `ready`), its watch polling every `primaryPollMs`.
   * Row `id` is committed and checkpointed before `body` runs, with the bus
   * messages collected from there; everything is stopped after.
   */
  async function onOwnRedis(
    o: { id: number; primaryPollMs: number; logger?: Logger },
    body: (c: {
      daemon: TestDaemon;
      admin: Redis;
      p: string;
      /** The identity the daemon adopted. */
      adopted: string;
      /** Gives the server a new replication id; returns the new identity. */
      changeReplId: () => Promise<string>;
      messages: Array<Record<string, unknown>>;
    }) => Promise<void>,
  ): Promise<void> {
    const own = await RedisServer.start(['--enable-debug-command', 'yes']);
    const admin = own.client();
    const p = `po${randomId()}`;
    let daemon: TestDaemon | null = null;
    try {
      daemon = await startDaemon(
        { [`${db.name}.t`]: [`${p}:t:{id}`] },
        {
          redis: () => own.client(),
          primaryPollMs: o.primaryPollMs,
          ...(o.logger === undefined ? {} : { logger: o.logger }),
        },
      );
      const { source, channel } = daemon;
      await db.sql('INSERT INTO t VALUES (?, 0)', [o.id]);
      const first = await db.headText();
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(admin, source), first)).toBe(true),
        { timeout: 10_000 },
      );
      const key = RedisKeys.checkpoint(source);
      const adopted = identityText(await probePrimary(admin, key));
      const changeReplId = async (): Promise<string> => {
        await admin.call('DEBUG', 'CHANGE-REPL-ID');
        const now = identityText(await probePrimary(admin, key));
        expect(now).not.toBe(adopted);
        return now;
      };
      const bus = await collectMessages(channel, { redisUrl: own.url, heartbeats: false });
      try {
        await body({ daemon, admin, p, adopted, changeReplId, messages: bus.messages });
      } finally {
        await bus.close();
      }
    } finally {
      await daemon?.stop();
      admin.disconnect();
      await own.stop();
    }
  }

  it('a checkpoint write that reaches another dataset before the watch looks is refused, and that refusal alone re-streams the daemon', async () => {
    // The watch's poll is an hour away: only the checkpoint write, which
    // carries the identity the daemon adopted, can find out (DESIGN: a
    // Redis primary change).
    await onOwnRedis({ id: 5000, primaryPollMs: 3_600_000 }, async (c) => {
      const { invalidator, source } = c.daemon;
      await c.changeReplId();
      const keys = await plant(c.admin, [`${c.p}:t:5001`]);
      await db.sql('INSERT INTO t VALUES (5001, 0)');
      const head = await db.headText();
      // Refused: the policy re-streamed from the checkpoint this dataset
      // holds, adopted the new identity, and the checkpoint moves on.
      await vi.waitFor(() => expect(invalidator.stats.redisPrimaryChanges).toBe(1), {
        timeout: 10_000,
      });
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(c.admin, source), head)).toBe(true),
        { timeout: 10_000 },
      );
      expect(await survivors(c.admin, keys)).toEqual([]);
      // The re-stream ends with an L1 reset; the dataset had the checkpoint,
      // so no key space was flushed.
      await vi.waitFor(() => expect(c.messages.filter((m) => m.flush === true)).toHaveLength(1), {
        timeout: 10_000,
      });
      expect(c.messages.filter((m) => m.patterns !== undefined)).toEqual([]);
      expect(invalidator.stats.redisPrimaryChanges).toBe(1);
    });
  });

  it('a dataset without the checkpoint, found by the watch while nothing is written: every mapped key space flushed, then on from the checkpoint stored last', async () => {
    // A failover to a replica cut off since before the first checkpoint
    // write: it holds keys cached before this daemon deleted them, and no
    // checkpoint says which. No write is sent meanwhile, so only the watch
    // (its poll here; no reconnection) can see the change.
    const { logger, lines } = capturedLogger('warn');
    await onOwnRedis({ id: 6000, primaryPollMs: 100, logger }, async (c) => {
      const { invalidator, source } = c.daemon;
      // The replica's dataset: the row's key from before its delete, a key
      // of no mapped key space, and no checkpoint.
      const stale = await plant(c.admin, [`${c.p}:t:6000`, `${c.p}:t:6001`]);
      const other = await plant(c.admin, [`${c.p}:other:6000`]);
      const lastStored = await checkpointText(c.admin, source);
      await c.admin.del(RedisKeys.checkpoint(source));
      const now = await c.changeReplId();
      await vi.waitFor(async () => expect(await survivors(c.admin, stale)).toEqual([]), {
        timeout: 10_000,
      });
      expect(await survivors(c.admin, other)).toEqual(other);
      expect(invalidator.stats.redisPrimaryChanges).toBe(1);
      // The watch saw it (the reason the policy logs), not a refused write.
      const restream =
        'redis primary changed: re-streaming the binlog from the checkpoint stored there';
      expect(lines.filter((l) => l.msg === restream).map((l) => l.reason)).toEqual([
        `poll: ${c.adopted} -> ${now}`,
      ]);
      const flushed = lines.find((l) => 'patterns' in l);
      expect(flushed?.patterns).toEqual([`${c.p}:t:*`]);
      // What this daemon stored last (the shared binlog's other commits may have moved it on).
      expect(atOrAfter(flushed?.checkpoint as string, String(lastStored))).toBe(true);
      // Readers were told (L1 flushed by pattern), and the stream goes on.
      expect(c.messages.find((m) => m.patterns !== undefined)).toMatchObject({
        flush: true,
        patterns: [`${c.p}:t:*`],
      });
      const next = await plant(c.admin, [`${c.p}:t:6002`]);
      await db.sql('INSERT INTO t VALUES (6002, 0)');
      const head = await db.headText();
      await vi.waitFor(async () => expect(await survivors(c.admin, next)).toEqual([]), {
        timeout: 10_000,
      });
      await vi.waitFor(
        async () => expect(atOrAfter(await checkpointText(c.admin, source), head)).toBe(true),
        { timeout: 10_000 },
      );
      expect(invalidator.serverInUse).toMatch(
        /^mariadb server_id \d+ \(domain \d+\) at 127\.0\.0\.1:\d+$/,
      );
    });
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
        expect(await stillRunning(daemon.invalidator)).toBe(true);
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
