import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { keySlot } from '../../src/keys/slot.js';
import { CliProcess, ROOT, writeConfig } from '../helpers/cli.js';
import { clusterClient } from '../helpers/cluster.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { checkpointText, plant, survivors } from '../helpers/redis.js';
import { chaosEnv } from './services.js';

/** Six nodes of scripts/cluster.sh: three masters, a replica each, failed over after 1 s. */
const PORTS = (process.env.SLUICE_CHAOS_CLUSTER_PORTS ?? '6420 6421 6422 6423 6424 6425')
  .split(/\s+/)
  .map(Number);
const clusterEnv = {
  ...process.env,
  SLUICE_DATA_DIR: chaosEnv.SLUICE_DATA_DIR,
  SLUICE_CLUSTER_PORTS: PORTS.join(' '),
  SLUICE_CLUSTER_REPLICAS: '1',
  SLUICE_CLUSTER_NODE_TIMEOUT: '1000',
};
const clusterSh = (command: string): void =>
  void execFileSync('bash', ['scripts/cluster.sh', command], { cwd: ROOT, env: clusterEnv });

/**
 * The Sentinel failover of sentinel-failover.test.ts on a Redis Cluster with
 * a replica per master: the master that holds the checkpoint acknowledges a
 * burst its replica never gets (SIGSTOPped, link cut), is SIGKILLed, and the
 * cluster promotes the replica with the stale values and the old
 * checkpoint. The daemon (`redis.cluster`) follows the new slot owner,
 * notices the other dataset and re-streams.
 */
describe('Redis Cluster failover of the checkpoint master to a replica that missed a burst', () => {
  let db: TestDb;
  let cluster: Cluster | undefined;
  const nodes: Redis[] = [];
  let daemon: CliProcess | null = null;

  beforeAll(async () => {
    db = await TestDb.create();
    clusterSh('down');
    clusterSh('up');
    cluster = clusterClient({
      url: `redis://127.0.0.1:${PORTS[0]}`,
      nodes: PORTS.map((p) => `127.0.0.1:${p}`),
    });
  }, 120_000);

  afterAll(async () => {
    if (daemon !== null) {
      daemon.kill('SIGKILL');
      await daemon.exited;
    }
    cluster?.disconnect();
    for (const n of nodes) n.disconnect();
    for (const p of PORTS) {
      try {
        process.kill(pid(p), 'SIGCONT');
      } catch {
        // gone
      }
    }
    clusterSh('down');
    await db.drop();
  });

  function node(port: number): Redis {
    const n = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    n.on('error', () => undefined);
    nodes.push(n);
    return n;
  }

  function pid(port: number): number {
    const file = join(chaosEnv.SLUICE_DATA_DIR, 'cluster', String(port), 'redis.pid');
    return Number(readFileSync(file, 'utf8').trim());
  }

  /** The master serving `slot`, its replica (ports), and which slots that master serves. */
  async function owners(
    slot: number,
  ): Promise<{ master: number; replica: number; serves: (slot: number) => boolean }> {
    const lines = String(await node(PORTS[0] ?? 0).call('CLUSTER', 'NODES'))
      .trim()
      .split('\n');
    const rows = lines.map((l) => l.split(' '));
    const port = (row: string[]): number => Number(row[1]?.split('@')[0]?.split(':')[1]);
    const ranges = (row: string[]): Array<[number, number]> =>
      row.slice(8).map((range) => {
        const [from, to] = range.split('-').map(Number) as [number, number | undefined];
        return [from, to ?? from];
      });
    const master = rows.find(
      (r) =>
        r[2]?.includes('master') === true &&
        ranges(r).some(([from, to]) => slot >= from && slot <= to),
    );
    const replica = rows.find((r) => r[3] === master?.[0]);
    if (master === undefined || replica === undefined) throw new Error(`no owner of ${slot}`);
    const served = ranges(master);
    return {
      master: port(master),
      replica: port(replica),
      serves: (s) => served.some(([from, to]) => s >= from && s <= to),
    };
  }

  it('0 stale keys after catch-up, the L1 reset announced after the re-streamed batches, the daemon still running', async () => {
    if (cluster === undefined) throw new Error('no cluster');
    const c = cluster;
    const table = `t_${randomId()}`;
    await db.sql(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
    const p = `cf${randomId()}`;
    const source = `cfailover-${randomId()}`;
    const channel = `sluice:test:${source}`;
    const config = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  heartbeatMs: 500
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }
redis:
  url: redis://127.0.0.1:${PORTS[0]}
  cluster: true
  nodes: [${PORTS.slice(1)
    .map((port) => `"127.0.0.1:${port}"`)
    .join(', ')}]
invalidation:
  channel: ${channel}
  heartbeatMs: 500
rules:
  - table: ${db.name}.${table}
    keys: ["${p}:r:{id}"]
`);
    const rows = 5000;
    const keys = Array.from({ length: rows }, (_, i) => `${p}:r:${i + 1}`);
    await db.sql(`INSERT INTO ${table} VALUES ${keys.map((_, i) => `(${i + 1}, 0)`).join(',')}`);
    daemon = new CliProcess(['run', '--config', config], {
      SLUICE_SOURCE_URL: '',
      SLUICE_REDIS_URL: '',
      SLUICE_LOG_LEVEL: 'info',
    });
    const run = daemon;
    await vi.waitFor(() => expect(run.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    await db.sql(`INSERT INTO ${table} VALUES (0, 0)`);
    const before = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(c, source)).toBe(before), {
      timeout: 20_000,
    });

    const cpKey = RedisKeys.checkpoint(source);
    const { master, replica, serves } = await owners(keySlot(cpKey));
    const lostWithMaster = keys.filter((k) => serves(keySlot(k)));
    expect(lostWithMaster.length).toBeGreaterThan(1000); // about a third
    await plant(c, keys);
    // The replica has everything so far (its offset caught up with its master's).
    const m = node(master);
    await vi.waitFor(
      async () => {
        const info = await m.info('replication');
        const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
        expect(info).toMatch(new RegExp(`slave0:.*offset=${offset}\\b`));
      },
      { timeout: 10_000, interval: 50 },
    );
    // What the rest of the cluster hears (a master that stays up).
    const other = PORTS.find((port) => port !== master && port !== replica) ?? 0;
    const heard: Array<Record<string, unknown>> = [];
    const listener = node(other);
    listener.on('message', (_c: string, raw: string) =>
      heard.push(JSON.parse(raw) as Record<string, unknown>),
    );
    await listener.subscribe(channel);

    process.kill(pid(replica), 'SIGSTOP');
    await m.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await db.sql(`UPDATE ${table} SET v = 1`);
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpointText(c, source)).toBe(head), {
      timeout: 60_000,
      interval: 100,
    });
    expect(await survivors(c, keys)).toEqual([]);
    heard.length = 0;
    process.kill(pid(master), 'SIGKILL');
    process.kill(pid(replica), 'SIGCONT');
    // Still a replica for a moment: it lacks the burst and holds the old checkpoint.
    const r = node(replica);
    await r.call('READONLY');
    expect(JSON.parse((await r.get(cpKey)) ?? '{}')).toMatchObject({
      file: before.split(':')[0],
      pos: Number(before.split(':')[1]),
    });
    expect(await survivors(r, lostWithMaster)).toHaveLength(lostWithMaster.length);
    await vi.waitFor(async () => expect(await r.info('replication')).toContain('role:master'), {
      timeout: 30_000,
      interval: 100,
    });
    // The test's own client learns the new owner (its auto-pipelined
    // commands do not follow a MOVED on their own).
    await vi.waitFor(
      () => {
        c.refreshSlotsCache();
        expect(c.slots[keySlot(cpKey)]?.[0]).toBe(`127.0.0.1:${replica}`);
      },
      { timeout: 10_000, interval: 200 },
    );

    await vi.waitFor(async () => expect(await survivors(c, keys)).toEqual([]), {
      timeout: 60_000,
      interval: 200,
    });
    await vi.waitFor(async () => expect(await checkpointText(c, source)).toBe(head), {
      timeout: 30_000,
    });
    expect(run.logs().some((l) => l.code === 'E_REDIS_PRIMARY_CHANGED')).toBe(true);
    await vi.waitFor(() => expect(heard.some((msg) => msg.flush === true)).toBe(true), {
      timeout: 20_000,
    });
    const reset = heard.findIndex((msg) => msg.flush === true);
    expect(heard[reset]).not.toHaveProperty('patterns');
    const announced = new Set(
      heard.slice(0, reset).flatMap((msg) => (msg.keys as string[] | undefined) ?? []),
    );
    expect(keys.filter((k) => !announced.has(k))).toEqual([]);
    expect(run.child.exitCode).toBe(null);
  });
});
