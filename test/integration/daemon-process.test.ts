import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { CliProcess, daemonConfig, runCli, writeConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId, testEnv } from '../helpers/env.js';
import { checkpointText, plant, survivors, testRedis } from '../helpers/redis.js';

/**
 * `sluice run` as a real process: crash safety (kill -9 mid-burst), graceful
 * SIGTERM, and configuration errors.
 */
describe('sluice run (process)', () => {
  let db: TestDb;
  let redis: Redis;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql('CREATE TABLE events (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
  });

  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  function config(prefix: string, source: string, top = ''): string {
    return daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.events`]: [`${prefix}:ev:{id}`, `${prefix}:ev:v:{v}`] },
      top,
    });
  }

  /** Inserts rows [from, to) in transactions of `perTx` rows. */
  async function burst(from: number, to: number, perTx: number): Promise<void> {
    for (let i = from; i < to; i += perTx) {
      const values = [];
      for (let j = i; j < Math.min(to, i + perTx); j++) values.push(`(${j}, ${j})`);
      await db.sql(`INSERT INTO events VALUES ${values.join(',')}`);
    }
  }

  it('kill -9 in the middle of a 20,000-row burst, then restart: every key of every row is gone', async () => {
    const p = `k9${randomId()}`;
    const source = `crash-${randomId()}`;
    const cfg = config(p, source);

    const first = new CliProcess(['run', '--config', cfg]);
    // A first commit gives the daemon a checkpoint to resume from.
    await vi.waitFor(() => expect(first.stdout).toContain('binlog streaming'), { timeout: 15_000 });
    await db.sql('INSERT INTO events VALUES (0, 0)');
    await vi.waitFor(
      async () => expect(await checkpointText(redis, source)).toBe(await db.headText()),
      {
        timeout: 10_000,
      },
    );

    const keys: string[] = [];
    for (let i = 1; i <= 20_000; i++) keys.push(`${p}:ev:${i}`, `${p}:ev:v:${i}`);
    await plant(redis, keys);

    const writing = burst(1, 10_001, 100);
    // Once the daemon is visibly in the middle of the burst, freeze it,
    // commit the rest of the burst, then kill it: every row was committed
    // before the kill, so the keys left after the crash (at least the second
    // half's) are work the crash lost, not rows written after it.
    await vi.waitFor(
      async () => {
        const left = (await survivors(redis, keys)).length;
        expect(left).toBeLessThan(keys.length);
      },
      { timeout: 30_000, interval: 5 },
    );
    first.child.kill('SIGSTOP');
    await writing;
    await burst(10_001, 20_001, 100);
    const head = await db.headText();
    first.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    const leftAfterCrash = (await survivors(redis, keys)).length;
    expect(leftAfterCrash).toBeGreaterThan(0); // the crash really left committed work undone
    expect(await checkpointText(redis, source)).not.toBe(head); // and the checkpoint is behind it

    const second = new CliProcess(['run', '--config', cfg]);
    await vi.waitFor(async () => expect(await checkpointText(redis, source)).toBe(head), {
      timeout: 30_000,
    });
    expect(await survivors(redis, keys)).toEqual([]);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('SIGTERM finishes the in-flight batch, stores the checkpoint and exits 0 before the shutdown timeout', async () => {
    const p = `st${randomId()}`;
    const source = `term-${randomId()}`;
    const daemon = new CliProcess(['run', '--config', config(p, source)]);
    await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), {
      timeout: 15_000,
    });
    const keys = await plant(redis, [`${p}:ev:30001`, `${p}:ev:v:30001`]);
    await db.sql('INSERT INTO events VALUES (30001, 30001)');
    const head = await db.headText();
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]), {
      timeout: 5000,
    });

    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    expect(exit.code).toBe(0);
    // It finished on its own: the hard shutdown timeout did not end it.
    expect(daemon.stdout + daemon.stderr).not.toContain('E_SHUTDOWN_TIMEOUT');
    expect(await checkpointText(redis, source)).toBe(head);
    // The log names the stop and never the password.
    expect(daemon.stdout).toContain('pipeline stopped');
    expect(daemon.stdout).not.toContain('sluice-secret');
  });

  it('metrics.listen serves the daemon metrics (and never a password)', async () => {
    const port = await freePort();
    const p = `mx${randomId()}`;
    const source = `metrics-${randomId()}`;
    const cfg = config(p, source, `metrics:\n  listen: 127.0.0.1:${port}`);
    const daemon = new CliProcess(['run', '--config', cfg]);
    await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), {
      timeout: 15_000,
    });
    await db.sql('INSERT INTO events VALUES (40001, 40001)');
    await vi.waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(text).toMatch(/^sluice_daemon_rows_total 1$/m);
        expect(text).toMatch(/^sluice_daemon_keys_invalidated_total 2$/m);
        expect(text).toMatch(/^sluice_daemon_leading 1$/m);
        expect(text).toMatch(/^process_cpu_seconds_total /m);
        expect(text).not.toContain('sluice-secret');
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(daemon.stdout).toContain(`metrics on /metrics`);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    daemon.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });

  it('a configuration error exits 2 and names the field', async () => {
    const cfg = writeConfig(`
source:
  url: ${testEnv.sourceUrl}/${db.name}
redis:
  url: ${testEnv.redisUrl}
rules:
  - table: ${db.name}.events
    keys: ["ev:{id}", "ev:{emial}"]
`);
    const res = await runCli(['run', '--config', cfg]);
    expect(res.code).toBe(2);
    // The start-up check against the live schema: E_CONFIG_INVALID, by field path.
    expect(res.stderr).toContain('sluice: E_CONFIG_INVALID: ');
    expect(res.stderr).toContain(
      `rules[0].keys[1]: column "emial" does not exist in ${db.name}.events`,
    );
    expect(res.stderr).not.toContain('sluice-secret');

    const bad = writeConfig(
      `source: { url: "${testEnv.sourceUrl}", serverId: "x" }\nredis: { url: "${testEnv.redisUrl}" }\nrules: []\n`,
    );
    const res2 = await runCli(['run', '--config', bad]);
    expect(res2.code).toBe(2);
    expect(res2.stderr).toContain('source.serverId');
    expect(res2.stderr).toContain('rules');
  });
});
