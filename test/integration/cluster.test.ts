import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { pino } from 'pino';
import { ClusterBusSubscriber } from '../../src/bus/ClusterBusSubscriber.js';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { createRedisClient } from '../../src/infra/redis.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { keySlot } from '../../src/keys/slot.js';
import { LeaderLease } from '../../src/pipeline/checkpoint/LeaderLease.js';
import { comparePositions, parsePosition } from '../../src/pipeline/position.js';
import { FakePublisher, gate, testCache } from '../helpers/cache.js';
import { CliProcess, runCli, writeConfig } from '../helpers/cli.js';
import { clusterClient, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { collectMessages, plant, survivors } from '../helpers/redis.js';
import { deliveries, pingDeliveries } from '../helpers/redisReplies.js';

/**
 * The core invalidation and race tests again, on a three-master Redis Cluster
 * (scripts/cluster.sh) with the real daemon and MariaDB: the daemon's client
 * is the one `sluice run` builds for `redis.cluster: true`. Keys are chosen
 * to land on every master, so a multi-slot UNLINK, a pipeline crossing
 * nodes or a SCAN of one node only would each fail a test.
 */
describe('Redis Cluster: invalidation, checkpoint, cache races', () => {
  let cluster: TestCluster;
  let redis: Cluster;
  let db: TestDb;
  let daemon: TestDaemon;
  let p: string;
  const k = (s: string): string => `${p}:${s}`;

  /** The daemon's client, exactly as `sluice run` makes it from `redis.*`. */
  const sinkClient = (): Cluster =>
    createRedisClient({ url: cluster.url, cluster: true, nodes: cluster.nodes }, 'sink') as Cluster;

  beforeAll(async () => {
    cluster = startTestCluster();
    redis = clusterClient(cluster);
    await redis.ping(); // the slot map is loaded from here on
    db = await TestDb.create();
    await db.sql(`CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255), name VARCHAR(64))`);
    await db.sql(`CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(64))`);
    p = `cl${randomId()}`;
    daemon = await startDaemon(
      {
        [`${db.name}.users`]: [`${p}:user:{id}`, `${p}:user:email:{email}`],
        [`${db.name}.accounts`]: [`${p}:acct:{id}`],
      },
      { redis: sinkClient },
    );
  });

  afterAll(async () => {
    await daemon?.stop();
    await db?.drop();
    redis?.disconnect();
  });

  /** How many masters serve `keys`. */
  function masterCount(keys: readonly string[]): number {
    return new Set(keys.map((key) => redis.slots[keySlot(key)]?.[0])).size;
  }

  async function expectDeleted(gone: string[], kept: string[]): Promise<void> {
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]), {
      timeout: 5000,
      interval: 20,
    });
    expect(await survivors(redis, kept)).toEqual(kept);
  }

  /**
   * True when the stored checkpoint `cp` is at or past `head`. The server is
   * shared: other tests' commits may move the checkpoint further on.
   */
  const reached = (cp: { file: string; pos: number } | null, head: string): boolean =>
    cp !== null &&
    comparePositions(parsePosition(`${cp.file}:${cp.pos}`), parsePosition(head)) >= 0;

  const range = (from: number, to: number): number[] =>
    Array.from({ length: to - from }, (_, i) => from + i);

  it("the daemon's client parses each node's replies in the read that received them", async () => {
    const client = sinkClient();
    try {
      await client.ping(); // the slot map, and a node connected
      const nodes = client.nodes('master');
      expect(nodes).toHaveLength(3);
      for (const node of nodes) {
        expect(await node.ping()).toBe('PONG'); // connected (nodes connect on first use)
        expect(await pingDeliveries(node, 3)).toEqual([true, true, true]);
      }
    } finally {
      client.disconnect();
    }
  });

  it("the cache's cluster subscriber gets bus messages in the read that received them", async () => {
    const channel = `sluice:test:replies-${randomId()}`;
    const subscriber = new ClusterBusSubscriber(redis);
    try {
      await subscriber.subscribe(channel);
      // Private: the node connection the subscriber made for itself.
      const conn = (subscriber as unknown as { conn: Redis }).conn;
      let received = 0;
      subscriber.on('message', () => void received++);
      const inline = await deliveries(conn, async () => {
        for (let seq = 1; seq <= 3; seq++) {
          await redis.publish(channel, JSON.stringify({ v: 1, src: 'test', seq, keys: [] }));
          await vi.waitFor(() => expect(received).toBe(seq), { timeout: 5000 });
        }
      });
      expect(inline).toEqual([true, true, true]);
    } finally {
      subscriber.disconnect();
    }
  });

  describe('invalidation', () => {
    it('insert, update and delete of 300 rows remove exactly their keys, spread over every master', async () => {
      const ids = range(1, 301);
      const keys = ids.flatMap((i) => [k(`user:${i}`), k(`user:email:u${i}@x`)]);
      expect(masterCount(keys)).toBe(3);
      const unrelated = await plant(
        redis,
        range(1000, 1030).flatMap((i) => [k(`user:${i}`), k(`other:${i}`)]),
      );
      expect(masterCount(unrelated)).toBe(3);

      const values = ids.map((i) => `(${i}, 'u${i}@x', 'n')`).join(',');
      await plant(redis, keys);
      await db.sql(`INSERT INTO users VALUES ${values}`); // one transaction, 600 keys
      await expectDeleted(keys, unrelated);

      await plant(redis, keys);
      await db.sql(`UPDATE users SET name = 'm' WHERE id <= 300`);
      await expectDeleted(keys, unrelated);

      await plant(redis, keys);
      await db.sql(`DELETE FROM users WHERE id <= 300`);
      await expectDeleted(keys, unrelated);
    });

    it('an email change removes the old and the new email key and their leases', async () => {
      await db.sql(`INSERT INTO users VALUES (400, 'old@x', 'Bo')`);
      const bus = await collectMessages(daemon.channel, { redisUrl: cluster.url });
      const keys = [k('user:400'), k('user:email:old@x'), k('user:email:new@x')];
      const leases = keys.map((x) => RedisKeys.lease(x));
      await plant(redis, [...keys, ...leases]);
      await db.sql(`UPDATE users SET email = 'new@x' WHERE id = 400`);
      await expectDeleted([...keys, ...leases], []);
      // The daemon is shared by this file's tests: a late message of the
      // previous test may arrive too, and so may the INSERT's own. Of what
      // concerns row 400, exactly its three keys are published.
      await vi.waitFor(() => {
        const published = bus.messages
          .flatMap((m) => (m.keys as string[] | undefined) ?? [])
          .filter((key) => key.endsWith(':400') || key.endsWith('old@x') || key.endsWith('new@x'));
        expect(new Set(published)).toEqual(new Set(keys));
      });
      await bus.close();
    });

    it('messages carry consecutive seq and the commit position; the checkpoint is that boundary', async () => {
      const bus = await collectMessages(daemon.channel, { redisUrl: cluster.url });
      const heads: string[] = [];
      for (let i = 410; i < 413; i++) {
        await db.sql(`INSERT INTO users VALUES (${i}, NULL, 'n')`);
        heads.push(await db.headText());
        await vi.waitFor(() => expect(bus.messages.filter((m) => m.keys).length).toBe(i - 409), {
          timeout: 5000,
        });
      }
      const inv = bus.messages.filter((m) => m.keys);
      expect(inv.map((m) => m.keys)).toEqual([[k('user:410')], [k('user:411')], [k('user:412')]]);
      const seqs = inv.map((m) => m.seq as number);
      expect(seqs).toEqual([seqs[0], (seqs[0] as number) + 1, (seqs[0] as number) + 2]);
      expect(inv.map((m) => m.pos)).toEqual(heads);
      // The checkpoint reaches the last commit once its batch is acknowledged.
      await vi.waitFor(async () => {
        const raw = await redis.get(RedisKeys.checkpoint(daemon.source));
        const cp = JSON.parse(raw ?? 'null') as { file: string; pos: number } | null;
        expect(reached(cp, heads[2] ?? '')).toBe(true);
      });
      await bus.close();
    });

    it('TRUNCATE flushes the table key space on every master (and its leases), nothing else', async () => {
      const bus = await collectMessages(daemon.channel, { redisUrl: cluster.url });
      const gone = await plant(redis, [
        ...range(1, 301).map((i) => k(`user:${i}`)),
        ...range(1, 30).map((i) => k(`user:email:e${i}@x`)),
        ...range(1, 30).map((i) => RedisKeys.lease(k(`user:${i}`))),
      ]);
      expect(masterCount(gone)).toBe(3);
      const kept = await plant(redis, [
        ...range(1, 30).map((i) => k(`acct:kept${i}`)),
        ...range(1, 30).map((i) => k(`userx:${i}`)),
      ]);
      expect(masterCount(kept)).toBe(3);
      await db.sql('TRUNCATE TABLE users');
      await expectDeleted(gone, kept);
      await vi.waitFor(() => expect(bus.messages.some((m) => m.patterns !== undefined)).toBe(true));
      const msg = bus.messages.find((m) => m.patterns !== undefined);
      expect(msg?.patterns).toContain(k('user:*'));
      await bus.close();
    });

    it('the fenced checkpoint write: lands with the leader token, refused (E_FENCED) once another instance took over', async () => {
      const source = `fence-${randomId()}`;
      const leaseClient = sinkClient();
      const lease = new LeaderLease({
        redis: leaseClient,
        source,
        instance: 'test-leader',
        leaseMs: 5000,
        logger: pino({ level: 'silent' }),
      });
      expect(await lease.acquire()).toBe(true);
      const fenced = await startDaemon(
        { [`${db.name}.accounts`]: [`${p}:f:{id}`] },
        {
          redis: sinkClient,
          source: { name: source },
          fence: { key: lease.fenceKey, token: () => lease.token },
        },
      );
      const checkpoint = async (): Promise<{ file: string; pos: number } | null> =>
        JSON.parse((await redis.get(RedisKeys.checkpoint(source))) ?? 'null') as {
          file: string;
          pos: number;
        } | null;
      try {
        await db.sql(`INSERT INTO accounts VALUES (900, 'a')`);
        const head = await db.headText();
        await vi.waitFor(async () => expect(reached(await checkpoint(), head)).toBe(true));

        await redis.incr(lease.fenceKey); // a standby took the lease
        const frozen = await checkpoint(); // no write can land after the INCR
        await plant(redis, [k('f:901')]);
        await db.sql(`INSERT INTO accounts VALUES (901, 'b')`);
        await expect(fenced.invalidator.done).rejects.toMatchObject({ code: 'E_FENCED' });
        expect(await checkpoint()).toEqual(frozen);
        expect(await survivors(redis, [k('f:901')])).toEqual([]); // deletes still went out
      } finally {
        await fenced.stop();
        await lease.release();
        leaseClient.disconnect();
      }
    });
  });

  describe('cache', () => {
    it('readMany splits its MGET per slot; deleteMany and invalidatePattern reach every master', async () => {
      const t = await testCache({ channel: daemon.channel, l1: false }, () =>
        clusterClient(cluster),
      );
      try {
        const keys = range(1, 201).map((i) => k(`c:${i}`));
        expect(masterCount(keys)).toBe(3);
        const load = (missing: readonly string[]): Promise<Map<string, string>> =>
          Promise.resolve(new Map(missing.map((key) => [key, `v-${key}`])));
        const first = await t.cache.readMany(keys, load);
        expect([...first.values()].every((r) => r.source === 'miss')).toBe(true);
        const second = await t.cache.readMany(keys, load);
        expect([...second.values()].map((r) => r.source)).toEqual(keys.map(() => 'l2'));
        expect(second.get(keys[7] ?? '')?.json).toBe(JSON.stringify(`v-${keys[7]}`));

        expect(await t.cache.deleteMany(keys.slice(0, 100))).toBe(true);
        expect(await survivors(redis, keys)).toEqual(keys.slice(100));
        expect(await t.cache.invalidatePattern(k('c:*'))).toBe(100);
        expect(await survivors(redis, keys)).toEqual([]);
      } finally {
        await t.close();
      }
    });
  });

  describe('cache races', () => {
    async function loadName(id: number): Promise<{ id: number; name: string } | null> {
      const rows = await db.sql<RowDataPacket[]>('SELECT id, name FROM accounts WHERE id = ?', [
        id,
      ]);
      return (rows[0] as { id: number; name: string } | undefined) ?? null;
    }

    /** As in cache-races.test.ts: a fill paused between its database read and its cache write, across a write. */
    async function readAcrossAWrite(
      id: number,
      cacheOptions: Parameters<typeof testCache>[0],
    ): Promise<{ l2: string | null; secondSource: string; close: () => Promise<void> }> {
      const key = k(`acct:${id}`);
      await db.sql('INSERT INTO accounts VALUES (?, ?)', [id, 'old']);
      const t = await testCache(cacheOptions, () => clusterClient(cluster));
      if (cacheOptions.l1 !== false) {
        await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true), { timeout: 5000 });
      }
      const bus = await collectMessages(daemon.channel, { redisUrl: cluster.url });
      const readDone = gate();
      const release = gate();
      const reading = t.cache.read(key, async () => {
        const row = await loadName(id);
        readDone.open();
        await release.promise;
        return row;
      });
      await readDone.promise;
      await db.sql("UPDATE accounts SET name = 'new' WHERE id = ?", [id]);
      await vi.waitFor(() =>
        expect(bus.messages.some((m) => (m.keys as string[] | undefined)?.includes(key))).toBe(
          true,
        ),
      );
      await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBeGreaterThan(0));
      release.open();
      await reading;
      const l2 = await redis.get(key);
      const second = await t.cache.read(key, () => loadName(id));
      await bus.close();
      return { l2, secondSource: second.source, close: t.close };
    }

    it('(a) stale set: a fill that read the row before a committed write is refused by its lease', async () => {
      const guarded = await readAcrossAWrite(1, { channel: daemon.channel, l1: false });
      expect(guarded.l2).toBe(null);
      expect(guarded.secondSource).toBe('miss');
      await guarded.close();
      expect(await redis.get(k('acct:1'))).toBe('v{"id":1,"name":"new"}');

      const unguarded = await readAcrossAWrite(2, {
        channel: daemon.channel,
        l1: false,
        unsafe: { noLeases: true },
      });
      expect(unguarded.l2).toBe('v{"id":2,"name":"old"}');
      expect(unguarded.secondSource).toBe('l2');
      await unguarded.close();
    });

    it('(b) stale L1: an invalidation arriving during an L1 fill discards the fill', async () => {
      const opts = { channel: daemon.channel, unsafe: { noLeases: true } };
      const tracked = await readAcrossAWrite(3, opts);
      expect(tracked.secondSource).toBe('l2');
      await tracked.close();
      const untracked = await readAcrossAWrite(4, {
        ...opts,
        unsafe: { noLeases: true, noFillTracking: true },
      });
      expect(untracked.secondSource).toBe('l1');
      await untracked.close();
    });

    /** As in cache-races: the fake beats every 100 ms, the cache tolerates 6 s of silence. */
    async function l1WithFakeDaemon(unsafe: { noResets?: boolean }): Promise<{
      t: Awaited<ReturnType<typeof testCache>>;
      pub: FakePublisher;
      key: string;
    }> {
      const channel = `sluice:test:fake-${randomId()}`;
      // Published on another node than the one the cache subscribed on, most of the time.
      const pub = new FakePublisher(channel, undefined, `redis://${cluster.nodes[1]}`);
      const t = await testCache({ channel, heartbeatMs: 2000, unsafe }, () =>
        clusterClient(cluster),
      );
      pub.startHeartbeats(100);
      await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
      const key = k('l1:9');
      await t.cache.read(key, () => Promise.resolve({ id: 9, name: 'cached' }));
      expect((await t.cache.read(key, () => Promise.resolve(null))).source).toBe('l1');
      return { t, pub, key };
    }

    it('(c) a lost bus message (seq gap) clears L1', async () => {
      for (const unsafe of [{}, { noResets: true }]) {
        const { t, pub, key } = await l1WithFakeDaemon(unsafe);
        await pub.invalidate([k('unrelated:1')]);
        await pub.invalidate([k('unrelated:2')], 3); // seq 2 was lost
        await vi.waitFor(() => expect(t.cache.stats().bus.gaps).toBe(1));
        const after = await t.cache.read(key, () => Promise.resolve(null));
        expect(after.source).toBe(unsafe.noResets ? 'l1' : 'l2');
        pub.close();
        await t.close();
      }
    });

    it('(d) a subscriber reconnect clears L1', async () => {
      for (const unsafe of [{}, { noResets: true }]) {
        const { t, pub, key } = await l1WithFakeDaemon(unsafe);
        const resetsBefore = t.cache.stats().bus.resets;
        // The subscription is one plain connection to one node: find it and kill it.
        let killed = 0;
        for (const node of redis.nodes('master')) {
          const list = (await node.client('LIST')) as string;
          const line = list.split('\n').find((l) => l.includes(`name=${t.subscriberName}`));
          const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
          if (id !== undefined) killed += Number(await node.client('KILL', 'ID', id));
        }
        expect(killed).toBe(1);
        await vi.waitFor(() => expect(t.cache.stats().bus.resets).toBe(resetsBefore + 1), {
          timeout: 5000,
        });
        await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
        const after = await t.cache.read(key, () => Promise.resolve(null));
        expect(after.source).toBe(unsafe.noResets ? 'l1' : 'l2');
        pub.close();
        await t.close();
      }
    });

    it('(e) a subscriber whose node stays unreachable moves to another node, resubscribes and clears L1', async () => {
      const channel = `sluice:test:fake-${randomId()}`;
      const pub = new FakePublisher(channel, undefined, cluster.url);
      const client = clusterClient(cluster);
      const name = `test-sub-${randomId()}`;
      // hopAfter 0: the first failed reconnect counts as "unreachable".
      const subscriber = new ClusterBusSubscriber(client, { connectionName: name, hopAfter: 0 });
      const cache = new SluiceCache({ redis: client, subscriber, channel, heartbeatMs: 100 });
      try {
        await cache.start();
        pub.startHeartbeats(100);
        await vi.waitFor(() => expect(cache.l1Usable).toBe(true));
        const key = k('acct:hop');
        await cache.read(key, () => Promise.resolve('cached'));
        expect((await cache.read(key, () => Promise.resolve(null))).source).toBe('l1');
        const before = subscriber.node;
        const resets = cache.stats().bus.resets;

        // With hopAfter 0 a dropped connection does not come back: it moves.
        const node = redis
          .nodes('master')
          .find((n) => `${n.options.host}:${n.options.port}` === before);
        const list = (await node?.client('LIST')) as string;
        const id = /\bid=(\d+)/.exec(
          list.split('\n').find((l) => l.includes(`name=${name}`)) ?? '',
        );
        expect(id?.[1]).toBeDefined();
        await node?.client('KILL', 'ID', id?.[1] as string);
        await vi.waitFor(() => expect(subscriber.node).not.toBe(before), { timeout: 5000 });
        await vi.waitFor(() => expect(cache.l1Usable).toBe(true), { timeout: 5000 });
        expect(cache.stats().bus.resets).toBeGreaterThan(resets);
        expect((await cache.read(key, () => Promise.resolve(null))).source).toBe('l2');
        // Messages published through yet another node still arrive.
        await cache.read(key, () => Promise.resolve(null));
        await pub.invalidate([key]);
        await vi.waitFor(() => expect(cache.stats().bus.messages).toBe(1));
      } finally {
        pub.close();
        await cache.close();
        subscriber.disconnect();
        client.disconnect();
      }
    });

    it('lease keys are removed with their data key by the daemon', async () => {
      const key = k('acct:20');
      await redis.set(RedisKeys.lease(key), 'someone-filling');
      await db.sql("INSERT INTO accounts VALUES (20, 'x')");
      await vi.waitFor(async () => expect(await redis.exists(RedisKeys.lease(key))).toBe(0));
    });
  });

  it('sluice run and sluice serve with redis.cluster: true: invalidation, checkpoint, status, fresh reads', async () => {
    const source = `clrun-${randomId()}`;
    const cfg = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
database:
  url: ${testEnv.appUrl}/${db.name}
  pool: { connectionLimit: 4, maxIdle: 2 }
redis:
  url: ${cluster.url}
  cluster: true
  nodes: [${cluster.nodes.join(', ')}]
invalidation:
  channel: sluice:test:${source}
rules:
  - table: ${db.name}.accounts
    keys: ["${p}:run:{id}"]
api:
  resources:
    accounts: { table: ${db.name}.accounts, key: "${p}:run:{id}" }
`);
    // '' unsets URL overrides a developer's shell may carry.
    const env = { SLUICE_SOURCE_URL: '', SLUICE_REDIS_URL: '', SLUICE_LOG_LEVEL: 'info' };
    const run = new CliProcess(['run', '--config', cfg], env);
    const serve = new CliProcess(['serve', '--config', cfg, '--listen', '127.0.0.1:0'], env);
    try {
      await vi.waitFor(() => expect(run.stdout).toContain('binlog streaming'), {
        timeout: 15_000,
      });
      const keys = await plant(
        redis,
        range(500, 560).map((i) => k(`run:${i}`)),
      );
      expect(masterCount(keys)).toBe(3);
      await db.sql(
        `INSERT INTO accounts VALUES ${range(500, 560)
          .map((i) => `(${i}, 'r')`)
          .join(',')}`,
      );
      const head = await db.headText();
      await expectDeleted(keys, []);

      // The read API on the cluster: L2 through the cluster, L1 kept by the bus.
      const base = await vi.waitFor(
        () => {
          const line = serve.logs().find((l) => String(l.msg).startsWith('listening on'));
          expect(line, serve.stderr).toBeDefined();
          return String(line?.address);
        },
        { timeout: 15_000, interval: 50 },
      );
      const get = async (): Promise<{ cache: string; name: unknown }> => {
        const res = await fetch(`${base}/v1/accounts/500`);
        const body = (await res.json()) as { name?: unknown };
        return { cache: res.headers.get('x-cache') ?? '', name: body.name };
      };
      expect(await get()).toEqual({ cache: 'miss', name: 'r' });
      expect((await get()).cache).toMatch(/^l[12]$/);
      expect(await redis.get(k('run:500'))).toContain('"name":"r"');
      await db.sql(`UPDATE accounts SET name = 's' WHERE id = 500`);
      await vi.waitFor(async () => expect((await get()).name).toBe('s'), {
        timeout: 10_000,
        interval: 50,
      });

      await vi.waitFor(
        async () => {
          const res = await runCli(['status', '--json', '--config', cfg], env);
          const report = JSON.parse(res.stdout) as {
            checkpoint: { file: string; pos: number } | null;
            daemon: { running: boolean };
          };
          expect(report.daemon.running).toBe(true);
          expect(reached(report.checkpoint, head)).toBe(true);
        },
        { timeout: 15_000, interval: 300 },
      );
    } finally {
      run.kill('SIGTERM');
      serve.kill('SIGTERM');
    }
    expect((await run.exited).code).toBe(0);
    expect((await serve.exited).code).toBe(0);
  });
});
