import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { ROOT } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

interface Worker {
  readonly lines: () => string[];
  readonly done: Promise<void>;
}

/**
 * A thundering herd on one cold key from two processes (100 concurrent reads
 * each). Per-process single-flight alone leaves one load per process; the
 * cross-process lease leaves one load in all. The first load is held until
 * the other process is seen waiting on the lease (or, without leases, until
 * both have loaded), so the interleaving is the same on every run.
 */
describe('thundering herd across processes', () => {
  let db: TestDb;
  let redis: Redis;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64))');
    await db.sql("INSERT INTO users VALUES (1, 'herd')");
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  function spawnWorker(channel: string, key: string, mode: 'leases' | 'no-leases'): Worker {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/helpers/herdWorker.ts',
        channel,
        key,
        `${testEnv.adminUrl}/${db.name}`,
        '1',
        '100',
        mode,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => child.on('close', () => r()));
    return { lines: () => out.split('\n').filter((l) => l !== ''), done };
  }

  /** Runs the herd; `holdUntil` decides when the held loads may finish. */
  async function herd(
    mode: 'leases' | 'no-leases',
    holdUntil: (workers: Worker[]) => void,
  ): Promise<{ loads: number[]; values: string[]; key: string }> {
    const channel = `sluice:test:herd-${randomId()}`;
    const key = `herd${randomId()}:user:1`;
    const workers = [0, 1].map(() => spawnWorker(channel, key, mode));
    await vi.waitFor(() => expect(workers.every((w) => w.lines().includes('ready'))).toBe(true), {
      timeout: 20_000,
    });
    await redis.publish(`${channel}:go`, 'go');
    await vi.waitFor(() => holdUntil(workers), { timeout: 20_000, interval: 10 });
    await redis.publish(`${channel}:release`, 'release');
    await Promise.all(workers.map((w) => w.done));
    const results = workers.map(
      (w) =>
        JSON.parse(w.lines().find((l) => l.startsWith('{')) ?? '{}') as {
          loads: number;
          values: string[];
        },
    );
    return { loads: results.map((r) => r.loads), values: results.flatMap((r) => r.values), key };
  }

  const loadLines = (w: Worker): number => w.lines().filter((l) => l === 'load').length;

  it('with leases: exactly one load across both processes, the other waits for its fill', async () => {
    const { loads, values, key } = await herd('leases', (workers) => {
      // One process loads; the other has found the lease taken and waits.
      expect(workers.map(loadLines).sort()).toEqual([0, 1]);
      const waiter = workers.find((w) => loadLines(w) === 0);
      expect(waiter?.lines()).toContain('waits 1');
    });
    expect(loads.sort()).toEqual([0, 1]);
    expect(values).toEqual(['{"id":1,"name":"herd"}', '{"id":1,"name":"herd"}']);
    expect(await redis.get(key)).toBe('v{"id":1,"name":"herd"}');
  });

  it('control arm, without leases: each process loads (single-flight is only per process)', async () => {
    const { loads, values } = await herd('no-leases', (workers) => {
      expect(workers.map(loadLines)).toEqual([1, 1]);
    });
    expect(loads).toEqual([1, 1]);
    expect(values).toEqual(['{"id":1,"name":"herd"}', '{"id":1,"name":"herd"}']);
  });
});
