import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { ROOT } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/** 200 concurrent misses on one key from two processes cost at most 2 database loads. */
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

  it('two processes × 100 concurrent reads of a cold key → ≤ 2 loads, one value', async () => {
    const channel = `sluice:test:herd-${randomId()}`;
    const key = `herd${randomId()}:user:1`;
    const workers = [0, 1].map(() => {
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
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<void>((r) => child.on('close', () => r()));
      return { output: () => out, done };
    });
    await vi.waitFor(() => expect(workers.every((w) => w.output().includes('ready'))).toBe(true), {
      timeout: 20_000,
    });
    await redis.publish(`${channel}:go`, 'go');
    await Promise.all(workers.map((w) => w.done));
    const results = workers.map(
      (w) =>
        JSON.parse(
          w
            .output()
            .split('\n')
            .filter((l) => l.startsWith('{'))[0] ?? '{}',
        ) as { loads: number; values: string[] },
    );
    const loads = results.reduce((a, r) => a + r.loads, 0);
    expect(loads).toBeGreaterThanOrEqual(1);
    expect(loads).toBeLessThanOrEqual(2);
    expect(results.flatMap((r) => r.values)).toEqual([
      '{"id":1,"name":"herd"}',
      '{"id":1,"name":"herd"}',
    ]);
    expect(await redis.get(key)).toBe('v{"id":1,"name":"herd"}');
  });
});
