import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cacheFromConfig } from '../../src/cli/cacheFromConfig.js';
import { loadConfig } from '../../src/config/loader.js';
import { createRedisClient } from '../../src/infra/redis.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, runCli, writeConfig, type CliResult } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { atOrAfter } from '../helpers/positions.js';
import { checkpointText, plant, survivors } from '../helpers/redis.js';
import { pingDeliveries } from '../helpers/redisReplies.js';
import { sentinelGroup, type SentinelGroup } from '../helpers/sentinel.js';

/**
 * Every Redis client Sluice makes, on a Sentinel group (scripts/sentinel.sh:
 * a primary, a replica, three Sentinels on loopback): `run` with its BullMQ
 * jobs, `serve`, the operator commands and the library's cacheFromConfig,
 * with `redis.sentinels` and `redis.name` instead of `redis.url`.
 */
describe('Redis Sentinel', () => {
  let group: SentinelGroup;
  let db: TestDb;
  let primary: Redis;
  let cfg: string;
  const p = `sn${randomId()}`;
  const source = `sentinel-${randomId()}`;
  // '' unsets URL overrides a developer's shell may carry (a redis.url would clash).
  const env = { SLUICE_SOURCE_URL: '', SLUICE_REDIS_URL: '', SLUICE_LOG_LEVEL: 'info' };
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    group = sentinelGroup();
    primary = group.client(group.primaryPort);
    db = await TestDb.create();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB');
    cfg = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  heartbeatMs: 500
database:
  url: ${testEnv.appUrl}/${db.name}
${group.yaml}
invalidation:
  channel: sluice:test:${source}
  secondDeleteMs: 3000
rules:
  - table: ${db.name}.users
    keys: ["${p}:user:{id}"]
api:
  resources:
    users: { table: ${db.name}.users, key: "${p}:user:{id}" }
`);
  }, 120_000);

  afterAll(async () => {
    for (const proc of processes) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
    primary.disconnect();
    await db.drop();
    group.down();
  });

  function start(...args: string[]): CliProcess {
    const proc = new CliProcess([...args, '--config', cfg], env);
    processes.push(proc);
    return proc;
  }

  /** A one-shot command; it must exit on its own, promptly (no Sentinel connection left open). */
  async function sluice(...args: string[]): Promise<CliResult> {
    const started = Date.now();
    const res = await runCli([...args, '--config', cfg], env, 15_000);
    expect(Date.now() - started, `${args.join(' ')} took too long`).toBeLessThan(10_000);
    return res;
  }

  it("a client of redis.sentinels parses the primary's replies in the read that received them", async () => {
    const client = createRedisClient(
      { sentinels: group.sentinels, name: group.name },
      'test',
    ) as Redis;
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await pingDeliveries(client, 3)).toEqual([true, true, true]);
    } finally {
      client.disconnect();
    }
  });

  it('run (with its delayed second delete), serve and the operator commands go through the Sentinels', async () => {
    const run = start('run');
    await vi.waitFor(() => expect(run.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    expect(run.logs().find((l) => l.msg === 'sluice starting')?.redis).toBe(
      `sentinel:${group.name}@${group.sentinels.join(',')}`,
    );

    // The daemon deletes on the primary the Sentinels name, and the BullMQ
    // job deletes again 3 s later (a value written back meanwhile goes).
    const keys = await plant(primary, [`${p}:user:1`, `${p}:user:2`]);
    await db.sql(`INSERT INTO users VALUES (1, 'a'), (2, 'b')`);
    const head = await db.headText();
    await vi.waitFor(async () => expect(await survivors(primary, keys)).toEqual([]), {
      timeout: 10_000,
    });
    await plant(primary, keys, 'written back by a racing reader');
    await vi.waitFor(async () => expect(await survivors(primary, keys)).toEqual([]), {
      timeout: 10_000,
    });
    await vi.waitFor(
      async () => expect(atOrAfter(await checkpointText(primary, source), head)).toBe(true),
      {
        timeout: 10_000,
      },
    );

    const serve = start('serve', '--listen', '127.0.0.1:0');
    const base = await vi.waitFor(
      () => {
        const line = serve.logs().find((l) => String(l.msg).startsWith('listening on'));
        expect(line, serve.stderr).toBeDefined();
        return String(line?.address);
      },
      { timeout: 20_000, interval: 50 },
    );
    const get = async (): Promise<{ cache: string; name: unknown }> => {
      const res = await fetch(`${base}/v1/users/1`);
      const body = (await res.json()) as { name?: unknown };
      return { cache: res.headers.get('x-cache') ?? '', name: body.name };
    };
    expect(await get()).toEqual({ cache: 'miss', name: 'a' });
    expect(await primary.get(`${p}:user:1`)).toContain('"name":"a"');
    await db.sql(`UPDATE users SET name = 'a2' WHERE id = 1`);
    await vi.waitFor(async () => expect((await get()).name).toBe('a2'), {
      timeout: 10_000,
      interval: 50,
    });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const status = await sluice('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      redis: `sentinel:${group.name}@${group.sentinels.join(',')}`,
      daemon: { running: true },
    });
    const shown = await sluice('position', 'show', '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ key: RedisKeys.checkpoint(source) });
    const audit = await sluice('audit', '--json');
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);

    const from = await db.headText();
    const planted = await plant(primary, [`${p}:user:3`]);
    await db.sql(`INSERT INTO users VALUES (3, 'c')`);
    const to = await db.headText();
    await vi.waitFor(async () => expect(await survivors(primary, planted)).toEqual([]), {
      timeout: 10_000,
    });
    // The daemon (and its second-delete worker) stopped: only the replay deletes now.
    run.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    await plant(primary, planted);
    const replay = await sluice('replay', '--from', from, '--to', to);
    expect(replay.code, replay.stderr).toBe(0);
    expect(await survivors(primary, planted)).toEqual([]);

    const set = await sluice('position', 'set', from);
    expect(set.code, set.stderr).toBe(0);
    expect(await checkpointText(primary, source)).toBe(from);
  });

  it('cacheFromConfig builds its clients (cache, subscriber, write-behind) on the Sentinels', async () => {
    // Its own source name: no daemon's write-behind worker takes the job.
    const own = `lib-${randomId()}`;
    const config = loadConfig({
      path: writeConfig(readFileSync(cfg, 'utf8').replace(`name: ${source}`, `name: ${own}`)),
      env: {},
    });
    const built = await cacheFromConfig(config);
    try {
      const key = `${p}:lib:${randomId()}`;
      expect(await built.cache.getOrSet(key, () => Promise.resolve({ n: 1 }))).toEqual({ n: 1 });
      expect(await primary.get(key)).toBe('v{"n":1}');
      await built.cache.writeBehind(
        `${p}:lib:w`,
        { n: 2 },
        { sql: 'UPDATE users SET name = ? WHERE id = ?', params: ['w', 1] },
      );
      expect(await primary.llen(`${RedisKeys.jobsPrefix(own)}:write-behind:wait`)).toBe(1);
    } finally {
      await built.close();
    }
  });
});
