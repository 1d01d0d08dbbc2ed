import type { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import type { InvalidatorOptions } from '../../src/pipeline/Invalidator.js';
import { formatPosition, type BinlogPosition } from '../../src/pipeline/position.js';
import { locateGtid } from '../../src/source-admin/locateGtid.js';
import { ServerInfo } from '../../src/source-admin/ServerInfo.js';
import { startDaemon, stillRunning, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { capturedLogger } from '../helpers/logs.js';
import { randomId, testEnv } from '../helpers/env.js';
import { atOrAfter } from '../helpers/positions.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';

type Identity = Awaited<ReturnType<TestDb['identity']>>;

interface StoredCheckpoint {
  file: string;
  pos: number;
  gtid?: string;
  server?: { kind: string; serverId: number; domainId?: number };
  at?: string;
}

/**
 * A checkpoint's FILE:POS belongs to one server. These tests need only the
 * shared test server: a checkpoint that names another server (or the same
 * server id with another binlog at that offset) is what a daemon finds
 * after a failover behind one address. The chaos suite (source-failover)
 * does it with a real promoted replica, whose offsets differ.
 */
describe('the source server is checked before a FILE:POS is streamed', () => {
  let db: TestDb;
  let redis: Redis;
  let daemon: TestDaemon | undefined;
  let p: string;
  let source: string;
  let lastId = 0;
  /** A fresh row id (the table is shared by the tests). */
  const nextId = (): number => ++lastId;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE items (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
  });

  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await redis.del(RedisKeys.checkpoint(source), RedisKeys.lastError(source));
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  function rules(): Record<string, string[]> {
    return { [`${db.name}.items`]: [`${p}:item:{id}`] };
  }

  function begin(): void {
    p = `si${randomId()}`;
    source = `test-${randomId()}`;
  }

  async function stored(): Promise<StoredCheckpoint | null> {
    const raw = await redis.get(RedisKeys.checkpoint(source));
    return raw === null ? null : (JSON.parse(raw) as StoredCheckpoint);
  }

  async function store(cp: StoredCheckpoint): Promise<void> {
    await redis.set(RedisKeys.checkpoint(source), JSON.stringify(cp));
  }

  /** Inserts row `id` in a transaction of its own: its GTID and the position right after it. */
  async function insert(id: number): Promise<{ gtid: string; end: BinlogPosition }> {
    await db.sql('INSERT INTO items VALUES (?, ?)', [id, id]);
    const [row] = await db.sql<RowDataPacket[]>('SELECT @@last_gtid AS g');
    const gtid = String(row?.g);
    const server = await ServerInfo.connect(testEnv.sourceUrl);
    try {
      return { gtid, end: await locateGtid(server, gtid) };
    } finally {
      await server.close();
    }
  }

  /** The GTID just before `gtid` in its domain (the same server id). */
  function before(gtid: string): string {
    const [d, s, n] = gtid.split('-');
    return `${d}-${s}-${BigInt(n ?? '0') - 1n}`;
  }

  it('stamps every checkpoint with the server and the GTID position of its FILE:POS', async () => {
    begin();
    daemon = await startDaemon(rules(), { source: { name: source } });
    const { end } = await insert(nextId());
    await vi.waitFor(
      async () => {
        const cp = await stored();
        expect(cp).not.toBeNull();
        expect(cp?.file === end.file && (cp.pos ?? 0) >= end.pos).toBe(true);
      },
      { timeout: 10_000, interval: 50 },
    );
    await daemon.stop();
    daemon = undefined;
    const cp = (await stored()) as StoredCheckpoint;
    expect(cp.server).toEqual(await db.identity());
    // The GTIDs are those of the server's binlog at exactly that offset.
    const [at] = await db.sql<RowDataPacket[]>('SELECT BINLOG_GTID_POS(?, ?) AS g', [
      cp.file,
      cp.pos,
    ]);
    expect(cp.gtid).toBe(String(at?.g));
  });

  it('another server with the checkpoint GTIDs: follows by GTID, resets L1, counts it, logs both servers', async () => {
    begin();
    const first = await insert(nextId());
    const [a, b] = [nextId(), nextId()];
    const keys = await plant(redis, [`${p}:item:${a}`, `${p}:item:${b}`]);
    await insert(a);
    await insert(b);
    // The checkpoint: up to row 1, on a server with another id (what a
    // promoted replica behind the same address looks like). Its offset is
    // not asked for: the GTID is followed, and readers are told to drop L1.
    const me = await db.identity();
    await store({
      file: first.end.file,
      pos: first.end.pos,
      gtid: first.gtid,
      server: { ...me, serverId: me.serverId + 1000 },
    });
    const { logger, lines } = capturedLogger('warn');
    const channel = `sluice:test:${source}`;
    const bus = await collectMessages(channel);
    try {
      daemon = await startDaemon(rules(), {
        startFrom: 'checkpoint',
        source: { name: source },
        invalidation: { channel },
        logger,
      });
      await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
        timeout: 10_000,
        interval: 50,
      });
      expect(daemon.invalidator.stats.sourceChanges).toBe(1);
      expect(bus.messages.some((m) => m.flush === true && m.keys === undefined)).toBe(true);
      const warn = lines.find(
        (l) => l.msg === 'source server changed: following the checkpoint there by GTID',
      );
      expect(warn).toMatchObject({
        level: 40,
        previous: `mariadb server_id ${me.serverId + 1000} (domain ${me.domainId})`,
        now: `mariadb server_id ${me.serverId} (domain ${me.domainId})`,
        position: formatPosition(first.end),
        gtid: first.gtid,
      });
      await vi.waitFor(async () => expect((await stored())?.server).toEqual(me), {
        timeout: 10_000,
        interval: 50,
      });
    } finally {
      await bus.close();
    }
  });

  it('the same server id with other transactions at that offset (a rebuilt server): follows by GTID', async () => {
    begin();
    const id = nextId();
    const keys = await plant(redis, [`${p}:item:${id}`]);
    const first = await insert(id);
    // Right after row 1 the server's binlog says first.gtid; the checkpoint
    // claims the transaction before it. Streaming the offset would skip row 1.
    await store({
      file: first.end.file,
      pos: first.end.pos,
      gtid: before(first.gtid),
      server: await db.identity(),
    });
    daemon = await startDaemon(rules(), { startFrom: 'checkpoint', source: { name: source } });
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
      timeout: 10_000,
      interval: 50,
    });
    expect(daemon.invalidator.stats.sourceChanges).toBe(1);
  });

  it('an older checkpoint naming no server, whose GTID disagrees with the binlog at its offset: follows by GTID', async () => {
    begin();
    const id = nextId();
    const keys = await plant(redis, [`${p}:item:${id}`]);
    const first = await insert(id);
    await store({ file: first.end.file, pos: first.end.pos, gtid: before(first.gtid) });
    daemon = await startDaemon(rules(), { startFrom: 'checkpoint', source: { name: source } });
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
      timeout: 10_000,
      interval: 50,
    });
    expect(daemon.invalidator.stats.sourceChanges).toBe(1);
  });

  it('another server and no GTID stored: E_SOURCE_CHANGED, nothing streamed, checkpoint untouched', async () => {
    begin();
    const keys = await plant(redis, [`${p}:item:1`]);
    const me = await db.identity();
    const head = await db.head();
    // Without the check the daemon would stream from there instead of stopping.
    const cp = {
      file: head.file,
      pos: head.pos,
      server: { ...me, serverId: me.serverId + 1000 },
      at: 'fixed',
    };
    await store(cp);
    daemon = await startDaemon(rules(), {
      startFrom: 'checkpoint',
      source: { name: source },
      awaitStreaming: false,
    });
    const failed = await daemon.invalidator.done.then(
      () => null,
      (err: unknown) => err as { code?: string; message: string },
    );
    expect(failed?.code).toBe('E_SOURCE_CHANGED');
    expect(failed?.message).toContain(
      `${head.file}:${head.pos} belongs to mariadb server_id ${me.serverId + 1000} (domain ${me.domainId})`,
    );
    expect(failed?.message).toContain('the checkpoint has no GTID');
    expect(daemon.invalidator.stats.connected).toBe(false);
    expect(JSON.parse((await redis.get(RedisKeys.checkpoint(source))) ?? 'null')).toEqual(cp);
    expect(await survivors(redis, keys)).toEqual(keys);
  });

  it('another server lacking transactions the checkpoint covers (lost in a failover): E_SOURCE_CHANGED', async () => {
    begin();
    const me = await db.identity();
    const head = await db.head();
    const ahead = `${me.domainId}-${me.serverId}-99999999999`;
    await store({ file: head.file, pos: head.pos, gtid: ahead, server: { ...me, serverId: 7 } });
    daemon = await startDaemon(rules(), {
      startFrom: 'checkpoint',
      source: { name: source },
      awaitStreaming: false,
    });
    const failed = await daemon.invalidator.done.then(
      () => null,
      (err: unknown) => err as { code?: string; message: string },
    );
    expect(failed?.code).toBe('E_SOURCE_CHANGED');
    expect(failed?.message).toContain(
      `it lacks transactions the checkpoint covers (checkpoint ${ahead}`,
    );
    expect(failed?.message).toContain('lost in the failover');
  });

  /**
   * A start from the checkpoint `checkpointAt(head, me)` that the source
   * policy answers with a flush (`policy`): every mapped key space goes, a
   * key of another space stays, and the stream goes on (the next row's key
   * is deleted). Returns the daemon, the head read before the start and
   * this server.
   */
  async function flushesThenStreams(
    policy: Partial<InvalidatorOptions['source']>,
    checkpointAt: (head: BinlogPosition, me: Identity) => StoredCheckpoint,
    logger?: Logger,
  ): Promise<{ started: TestDaemon; head: BinlogPosition; me: Identity }> {
    begin();
    const keys = await plant(redis, [`${p}:item:1`, `${p}:item:2`]);
    const other = await plant(redis, [`x${p}:item:1`]);
    const me = await db.identity();
    const head = await db.head();
    await store(checkpointAt(head, me));
    const started = (daemon = await startDaemon(rules(), {
      startFrom: 'checkpoint',
      source: { name: source, ...policy },
      ...(logger === undefined ? {} : { logger }),
    }));
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
      timeout: 10_000,
      interval: 50,
    });
    expect(await survivors(redis, other)).toEqual(other);
    const id = nextId();
    await plant(redis, [`${p}:item:${id}`]);
    await db.sql('INSERT INTO items VALUES (?, ?)', [id, id]);
    await vi.waitFor(async () => expect(await survivors(redis, [`${p}:item:${id}`])).toEqual([]), {
      timeout: 10_000,
      interval: 50,
    });
    return { started, head, me };
  }

  it('onSourceChanged: flush removes every mapped key space and continues from the new end', async () => {
    const { started, me } = await flushesThenStreams({ onSourceChanged: 'flush' }, (head, id) => ({
      file: head.file,
      pos: head.pos,
      server: { ...id, serverId: id.serverId + 1000 },
    }));
    expect(started.invalidator.stats.sourceChanges).toBe(0);
    await vi.waitFor(async () => expect((await stored())?.server).toEqual(me), {
      timeout: 10_000,
      interval: 50,
    });
  });

  it('onPositionLost: flush, a checkpoint in a binlog file the server no longer has: every mapped key space flushed, then continues from the end', async () => {
    const { logger, lines } = capturedLogger('warn');
    // What PURGE BINARY LOGS leaves of a checkpoint: a file the server no longer has.
    const { started, head } = await flushesThenStreams(
      { onPositionLost: 'flush' },
      (at, me) => ({
        file: at.file.replace(/\d+$/, (n) => String(Number(n) + 1000).padStart(n.length, '0')),
        pos: 4,
        server: me,
      }),
      logger,
    );
    expect(lines.map((l) => l.code)).toContain('E_POSITION_LOST');
    // The stream started at the end, past the head read before it.
    await vi.waitFor(
      async () => {
        const cp = await stored();
        expect(atOrAfter(cp === null ? null : `${cp.file}:${cp.pos}`, formatPosition(head))).toBe(
          true,
        );
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(await stillRunning(started.invalidator)).toBe(true);
  });
});
