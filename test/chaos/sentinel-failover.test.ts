import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cacheFromConfig, type ConfiguredCache } from '../../src/cli/cacheFromConfig.js';
import { loadConfig } from '../../src/config/loader.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, writeConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { checkpointText, plant, survivors } from '../helpers/redis.js';
import { sentinelGroup, type SentinelGroup } from '../helpers/sentinel.js';
import { chaosEnv } from './services.js';

/**
 * Redis replication is asynchronous: a primary acknowledges the deletes of a
 * burst and the checkpoint after it, then dies before its replica has them.
 * Made real here: the replica is SIGSTOPped and its link cut (`CLIENT KILL
 * TYPE replica`: a stopped replica would otherwise find the stream in its
 * socket buffer on SIGCONT), the burst is invalidated on the primary alone,
 * the primary is SIGKILLed, and the Sentinels promote the replica, which
 * really holds the stale values and the checkpoint from before the burst.
 * The daemon (`sluice run` on `redis.sentinels`) follows the failover,
 * notices the other dataset, and re-streams from the checkpoint stored
 * there.
 */
describe('Sentinel failover to a replica that missed a burst', () => {
  let group: SentinelGroup;
  let db: TestDb;
  let procs: CliProcess[] = [];
  const clients: Redis[] = [];
  const env = { SLUICE_SOURCE_URL: '', SLUICE_REDIS_URL: '', SLUICE_LOG_LEVEL: 'info' };

  beforeAll(async () => {
    db = await TestDb.create();
  });

  beforeEach(() => {
    group = sentinelGroup(chaosEnv.SLUICE_DATA_DIR);
  });

  afterEach(async () => {
    for (const proc of procs) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
    procs = [];
    for (const c of clients.splice(0)) c.disconnect();
    group.down();
  });

  afterAll(async () => {
    await db.drop();
  });

  function client(port: number): Redis {
    const c = group.client(port);
    clients.push(c);
    return c;
  }

  async function scenario(rows: number) {
    const table = `t_${randomId()}`;
    await db.sql(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
    const p = `sf${randomId()}`;
    const source = `failover-${randomId()}`;
    const config = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  heartbeatMs: 500
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }
database:
  url: ${testEnv.appUrl}/${db.name}
${group.yaml}
invalidation:
  channel: sluice:test:${source}
  heartbeatMs: 500
rules:
  - table: ${db.name}.${table}
    keys: ["${p}:r:{id}"]
`);
    const keys = Array.from({ length: rows }, (_, i) => `${p}:r:${i + 1}`);
    for (let i = 1; i <= rows; i += 1000) {
      const values = Array.from(
        { length: Math.min(1000, rows - i + 1) },
        (_, j) => `(${i + j}, 0)`,
      );
      await db.sql(`INSERT INTO ${table} VALUES ${values.join(',')}`);
    }
    return { table, p, source, config, keys };
  }

  function daemon(config: string): CliProcess {
    const proc = new CliProcess(['run', '--config', config], env);
    procs.push(proc);
    return proc;
  }

  const leading = (proc: CliProcess): string | undefined =>
    proc.logs().find((l) => String(l.msg).startsWith('leading'))?.instance as string | undefined;

  /**
   * Cuts the replica off, runs `burst` (the primary alone invalidates it),
   * kills the primary and waits for the Sentinels to promote the replica.
   * Checks, before the promotion, that the replica really lacks the burst:
   * every key still there, the checkpoint still `before`.
   */
  async function failoverLosing(
    source: string,
    keys: readonly string[],
    before: string,
    burst: () => Promise<void>,
  ): Promise<Redis> {
    const primary = client(group.primaryPort);
    const replica = client(group.replicaPort);
    expect(await primary.wait(1, 5000)).toBe(1); // the replica has everything so far
    process.kill(group.pid(group.replicaPort), 'SIGSTOP');
    await primary.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await burst();
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(primary, source)).toBe(head), {
      timeout: 60_000,
      interval: 100,
    });
    expect(await survivors(primary, keys)).toEqual([]);
    process.kill(group.pid(group.primaryPort), 'SIGKILL');
    process.kill(group.pid(group.replicaPort), 'SIGCONT');
    // Still a replica for a second (the Sentinels wait down-after-milliseconds).
    expect(await checkpointText(replica, source)).toBe(before);
    expect(await survivors(replica, keys)).toHaveLength(keys.length);
    await vi.waitFor(() => expect(group.primaryNow()).toBe(group.replicaPort), {
      timeout: 30_000,
      interval: 200,
    });
    return replica;
  }

  it('a lone daemon re-streams: 0 stale keys after catch-up, readers reset their L1 and then read fresh values', async () => {
    const s = await scenario(20_000);
    const run = daemon(s.config);
    await vi.waitFor(() => expect(run.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const primary = client(group.primaryPort);
    await db.sql(`INSERT INTO ${s.table} VALUES (0, 0)`); // a checkpoint to stand on
    const before = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(primary, s.source)).toBe(before), {
      timeout: 20_000,
    });

    // A reader with L1 (cacheFromConfig on the same Sentinels) caches the
    // first 200 rows; every other key gets a planted stale value.
    const reader: ConfiguredCache = await cacheFromConfig(loadConfig({ path: s.config, env }));
    try {
      const load = async (id: number): Promise<{ v: number }> => {
        const [row] = await db.sql<Array<{ v: number }>>(`SELECT v FROM ${s.table} WHERE id = ?`, [
          id,
        ]);
        return { v: Number(row?.v) };
      };
      const read = (id: number) => reader.cache.getOrSet(`${s.p}:r:${id}`, () => load(id));
      await vi.waitFor(() => expect(reader.cache.l1Usable).toBe(true), { timeout: 10_000 });
      for (let id = 1; id <= 200; id++) expect(await read(id)).toEqual({ v: 0 });
      await plant(primary, s.keys.slice(200));

      // The future primary's own subscribers: what the daemon publishes there.
      const heard: Array<Record<string, unknown>> = [];
      const listener = client(group.replicaPort);
      listener.on('message', (_c: string, raw: string) =>
        heard.push(JSON.parse(raw) as Record<string, unknown>),
      );
      await listener.subscribe(`sluice:test:${s.source}`);

      const resetsBefore = reader.cache.stats().l1Resets;
      const newPrimary = await failoverLosing(s.source, s.keys, before, async () => {
        heard.length = 0; // from here on only what the promoted replica hears
        for (let i = 1; i <= 20_000; i += 1000) {
          await db.sql(`UPDATE ${s.table} SET v = 1 WHERE id BETWEEN ${i} AND ${i + 999}`);
        }
      });
      const head = await db.headText();

      await vi.waitFor(async () => expect(await survivors(newPrimary, s.keys)).toEqual([]), {
        timeout: 60_000,
        interval: 200,
      });
      await vi.waitFor(async () => expect(await checkpointText(newPrimary, s.source)).toBe(head), {
        timeout: 30_000,
      });
      expect(run.logs().some((l) => l.code === 'E_REDIS_PRIMARY_CHANGED')).toBe(true);

      // Re-streamed batches for every key, then the L1 reset (a flush without patterns).
      await vi.waitFor(() => expect(heard.some((m) => m.flush === true)).toBe(true), {
        timeout: 20_000,
      });
      const reset = heard.findIndex((m) => m.flush === true);
      expect(heard[reset]).not.toHaveProperty('patterns');
      const announced = new Set(
        heard.slice(0, reset).flatMap((m) => (m.keys as string[] | undefined) ?? []),
      );
      expect(s.keys.filter((k) => !announced.has(k))).toEqual([]);

      await vi.waitFor(() => expect(reader.cache.stats().l1Resets).toBeGreaterThan(resetsBefore), {
        timeout: 20_000,
      });
      await vi.waitFor(() => expect(reader.cache.l1Usable).toBe(true), { timeout: 20_000 });
      for (let id = 1; id <= 200; id++) expect(await read(id)).toEqual({ v: 1 });
      expect(await newPrimary.get(`${s.p}:r:1`)).toBe('v{"v":1}');

      // Still the one leader, still running.
      expect(run.child.exitCode).toBe(null);
      // The lease value is `<instance>/<token>`.
      expect((await newPrimary.get(RedisKeys.leader(s.source)))?.split('/')[0]).toBe(leading(run));
      expect(run.logs().filter((l) => l.code === 'E_FENCED')).toEqual([]);
    } finally {
      await reader.close();
    }
  });

  it('with a standby: 0 stale keys, and one leader only (the other waits or has stopped)', async () => {
    const s = await scenario(5000);
    const first = daemon(s.config);
    await vi.waitFor(() => expect(first.stdout).toContain('binlog streaming'), {
      timeout: 20_000,
    });
    const second = daemon(s.config);
    await vi.waitFor(() => expect(second.stdout).toContain('standby'), { timeout: 20_000 });
    const primary = client(group.primaryPort);
    await db.sql(`INSERT INTO ${s.table} VALUES (0, 0)`);
    const before = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(primary, s.source)).toBe(before), {
      timeout: 20_000,
    });
    await plant(primary, s.keys);

    const newPrimary = await failoverLosing(s.source, s.keys, before, async () => {
      await db.sql(`UPDATE ${s.table} SET v = 1`);
    });
    await vi.waitFor(async () => expect(await survivors(newPrimary, s.keys)).toEqual([]), {
      timeout: 60_000,
      interval: 200,
    });

    // One holder of the lease on the new primary, running; the other never
    // leads beside it: it waits (standby) or it has stopped (fenced off).
    const oneLeader = async (): Promise<void> => {
      const holder = await newPrimary.get(RedisKeys.leader(s.source));
      const leader = procs.find((p) => leading(p) === holder?.split('/')[0]);
      expect(leader, `lease held by ${holder}`).toBeDefined();
      expect(leader?.child.exitCode).toBe(null);
      for (const other of procs.filter((p) => p !== leader)) {
        if (other.child.exitCode === null) expect(leading(other)).toBe(undefined);
        else expect(other.stdout).toMatch(/E_FENCED|E_LEADERSHIP_LOST/);
      }
    };
    await vi.waitFor(oneLeader, { timeout: 30_000, interval: 200 });
    // And it stays so while the leader keeps streaming.
    await db.sql(`UPDATE ${s.table} SET v = 2 WHERE id = 1`);
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(newPrimary, s.source)).toBe(head), {
      timeout: 30_000,
    });
    await oneLeader();
  });
});
