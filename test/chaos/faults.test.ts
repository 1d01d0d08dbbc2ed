import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, daemonConfig, testChannel } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';
import { cpuMs, mariadbPid, redisDir, redisPid, rssBytes, services } from './services.js';

/**
 * "Nothing lost": before a write burst, plant a value under every key the
 * burst's rows map to; after the fault and the recovery, count the planted
 * values that survive. The answer must be 0. The daemon runs as a real
 * process (`sluice run`) as the least-privilege user.
 */
describe('faults the daemon survives', () => {
  let db: TestDb;
  let redis: Redis;
  let daemons: CliProcess[] = [];

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
  });

  afterEach(async () => {
    for (const d of daemons) {
      if (d.child.exitCode === null && d.child.signalCode === null) {
        d.kill('SIGKILL');
        await d.exited;
      }
    }
    daemons = [];
  });

  afterAll(async () => {
    await db.drop().catch(() => undefined);
    redis.disconnect();
  });

  interface Scenario {
    table: string;
    prefix: string;
    source: string;
    config: string;
    keys(from: number, to: number): string[];
  }

  async function scenario(
    extra = '',
    sourceExtra = '',
    more: { top?: string; keyPadding?: number } = {},
  ): Promise<Scenario> {
    const table = `t_${randomId()}`;
    await db.sql(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
    const prefix = `c${randomId()}${'_'.repeat(more.keyPadding ?? 0)}`;
    const source = `chaos-${randomId()}`;
    const config = daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.${table}`]: [`${prefix}:r:{id}`] },
      invalidationExtra: extra,
      sourceExtra,
      ...(more.top === undefined ? {} : { top: more.top }),
    });
    return {
      table,
      prefix,
      source,
      config,
      keys: (from, to) => Array.from({ length: to - from }, (_, i) => `${prefix}:r:${from + i}`),
    };
  }

  function daemon(s: Scenario, env: NodeJS.ProcessEnv = {}): CliProcess {
    const d = new CliProcess(['run', '--config', s.config], env);
    daemons.push(d);
    return d;
  }

  async function streaming(d: CliProcess): Promise<void> {
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
  }

  async function checkpoint(s: Scenario): Promise<string | null> {
    const raw = await redis.get(RedisKeys.checkpoint(s.source));
    if (raw === null) return null;
    const cp = JSON.parse(raw) as { file: string; pos: number };
    return `${cp.file}:${cp.pos}`;
  }

  /** Inserts rows [from, to) in transactions of `perTx`; returns each transaction's commit position. */
  async function burst(
    s: Scenario,
    from: number,
    to: number,
    perTx = 500,
  ): Promise<Array<{ end: string; ids: [number, number] }>> {
    const txs: Array<{ end: string; ids: [number, number] }> = [];
    for (let i = from; i < to; i += perTx) {
      const last = Math.min(to, i + perTx);
      const values = Array.from({ length: last - i }, (_, j) => `(${i + j}, ${i + j})`);
      await db.sql(`INSERT INTO ${s.table} VALUES ${values.join(',')}`);
      txs.push({ end: await db.headText(), ids: [i, last] });
    }
    return txs;
  }

  /** Waits until the daemon stored the server's current head as its checkpoint. */
  async function caughtUp(s: Scenario, timeout = 60_000): Promise<void> {
    const head = await db.headText();
    await vi.waitFor(async () => expect(await checkpoint(s)).toBe(head), { timeout, interval: 50 });
  }

  /** Waits until the daemon is visibly inside the burst: 5,000 of its keys deleted. */
  async function midBurst(keys: readonly string[]): Promise<void> {
    await vi.waitFor(
      async () => expect((await survivors(redis, keys)).length).toBeLessThan(keys.length - 5000),
      { timeout: 60_000, interval: 10 },
    );
  }

  /** Starts the daemon and gives it a checkpoint to resume from. */
  async function started(s: Scenario, env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
    const d = daemon(s, env);
    await streaming(d);
    await db.sql(`INSERT INTO ${s.table} VALUES (0, 0)`);
    await caughtUp(s);
    return d;
  }

  it('kill -9 during a 50,000-row burst: 0 survivors, and the restart re-reads only the unacknowledged tail', async () => {
    const s = await scenario();
    const first = await started(s);
    const keys = await plant(redis, s.keys(1, 50_001));
    const writing = burst(s, 1, 50_001);
    await midBurst(keys);
    first.kill('SIGKILL');
    await first.exited;
    const txs = await writing;
    const cpAtCrash = await checkpoint(s);
    expect(cpAtCrash).not.toBeNull();
    expect((await survivors(redis, keys)).length).toBeGreaterThan(0);

    // The rows the restart must re-read: those of transactions after the stored checkpoint.
    const crashIndex = txs.findIndex((t) => t.end === cpAtCrash);
    const tail = new Set(txs.slice(crashIndex + 1).flatMap((t) => s.keys(t.ids[0], t.ids[1])));
    const bus = await collectMessages(testChannel(s.source));
    const second = daemon(s);
    await caughtUp(s);
    expect(await survivors(redis, keys)).toEqual([]);
    const republished = new Set(
      bus.messages.flatMap((m) => (m.keys as string[] | undefined) ?? []),
    );
    expect(republished).toEqual(tail); // exactly the unacknowledged tail, nothing before it
    await bus.close();
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('Redis stopped for 5 s during a burst: retries without advancing the checkpoint, no spin, 0 survivors', async () => {
    const s = await scenario();
    const d = await started(s);
    const keys = await plant(redis, s.keys(1, 20_001));
    const cpBefore = await checkpoint(s);
    // SHUTDOWN SAVE keeps the planted keys across the restart (dump.rdb in its dir).
    await redis.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    const cpu0 = cpuMs(d.child.pid as number);
    await burst(s, 1, 20_001);
    const outageStart = Date.now();
    await vi.waitFor(() => expect(d.stdout).toContain('E_REDIS'), { timeout: 10_000 });
    await vi.waitFor(() => expect(Date.now() - outageStart).toBeGreaterThanOrEqual(5000), {
      timeout: 10_000,
      interval: 250,
    });
    const cpuDuringOutage = cpuMs(d.child.pid as number) - cpu0;
    services('start-redis');
    rmSync(join(redisDir, 'dump.rdb'), { force: true });
    redis.disconnect();
    redis = testRedis();
    expect(await checkpoint(s)).toBe(cpBefore); // never advanced while Redis was down
    expect(cpuDuringOutage).toBeLessThan(1500); // backoff, not a busy loop
    await caughtUp(s);
    expect(await survivors(redis, keys)).toEqual([]);
    expect(d.child.exitCode).toBe(null); // still running
  });

  it('Redis down for 3 × leaderLeaseMs during a burst: a lone daemon re-takes its own lease, keeps running, 0 survivors', async () => {
    const s = await scenario('', '  leaderLeaseMs: 1000');
    const d = await started(s);
    const keys = await plant(redis, s.keys(1, 20_001));
    // Down, not paused: the round in flight fails and is retried with the
    // token it was built with, while the lease expires; once Redis is back
    // the renewal re-takes the lease with a new token before that retry
    // lands, so the retried write is fenced off although no one else leads.
    await redis.call('SHUTDOWN', 'SAVE').catch(() => undefined);
    const downAt = Date.now();
    await burst(s, 1, 20_001, 500);
    await vi.waitFor(() => expect(d.stdout).toContain('E_REDIS'), { timeout: 10_000 });
    await vi.waitFor(() => expect(Date.now() - downAt).toBeGreaterThan(3500), {
      timeout: 10_000,
      interval: 100,
    });
    services('start-redis');
    rmSync(join(redisDir, 'dump.rdb'), { force: true });
    redis.disconnect();
    redis = testRedis();
    await caughtUp(s);
    expect(await survivors(redis, keys)).toEqual([]);
    // It took its own expired lease back and did not fence itself off.
    expect(d.stdout).toContain('re-taken with a new fencing token');
    expect(d.stdout).not.toContain('E_FENCED');
    expect(d.child.exitCode).toBe(null);
  });

  it('MariaDB restarted during a burst: reconnects from the checkpoint, 0 survivors', async () => {
    const s = await scenario();
    const d = await started(s);
    const keys = await plant(redis, s.keys(1, 30_001));
    await burst(s, 1, 15_001);
    services('stop-mariadb');
    services('start-mariadb');
    await db.reconnect();
    await burst(s, 15_001, 30_001);
    await caughtUp(s);
    expect(await survivors(redis, keys)).toEqual([]);
    expect(d.stdout).toContain('reconnecting');
  });

  it('a stalled binlog connection (SIGSTOP of MariaDB > 3 heartbeats) is detected and reconnected', async () => {
    const s = await scenario();
    const d = await started(s);
    const pid = mariadbPid();
    process.kill(pid, 'SIGSTOP');
    try {
      await vi.waitFor(() => expect(d.stdout).toContain('E_SOURCE_STALLED'), { timeout: 10_000 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const keys = await plant(redis, s.keys(1, 101));
    await burst(s, 1, 101, 10);
    await caughtUp(s, 30_000);
    expect(await survivors(redis, keys)).toEqual([]);
  });

  it('checkpoint purged while the daemon was down: onPositionLost fail exits 1 with E_POSITION_LOST', async () => {
    const s = await scenario();
    const d = await started(s);
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    await purgeAllButCurrent();
    const again = daemon(s);
    const exit = await again.exited;
    expect(exit.code).toBe(1);
    expect(again.stderr).toContain('E_POSITION_LOST');
    expect(again.stderr).toContain('onPositionLost: flush');
  });

  it('checkpoint purged while the daemon was down: onPositionLost flush removes every mapped key space and continues', async () => {
    const s = await scenario('', '  onPositionLost: flush');
    const d = await started(s);
    d.kill('SIGTERM');
    await d.exited;
    const planted = await plant(redis, [
      `${s.prefix}:r:1`,
      `${s.prefix}:r:999`,
      RedisKeys.lease(`${s.prefix}:r:5`),
    ]);
    const kept = await plant(redis, [`other${s.prefix}:r:1`]);
    await purgeAllButCurrent();
    const bus = await collectMessages(testChannel(s.source));
    daemon(s);
    await vi.waitFor(async () => expect(await survivors(redis, planted)).toEqual([]), {
      timeout: 20_000,
    });
    expect(await survivors(redis, kept)).toEqual(kept);
    // The message follows the whole SCAN of the data and lease globs (over every key in Redis).
    await vi.waitFor(() => expect(bus.messages.some((m) => m.flush === true)).toBe(true), {
      timeout: 20_000,
    });
    // It continues from the current end.
    const later = await plant(redis, [`${s.prefix}:r:77`]);
    await db.sql(`INSERT INTO ${s.table} VALUES (77, 77)`);
    await vi.waitFor(async () => expect(await survivors(redis, later)).toEqual([]), {
      timeout: 20_000,
    });
    await bus.close();
  });

  it('backpressure: Redis paused during a 200,000-row burst → the binlog is paused (rows read stop), memory flat, finishes after resume', async () => {
    // Long keys and a small in-flight bound: without the pause the daemon
    // would read the whole burst into memory (200,000 keys of ~240 bytes).
    const port = await freePort();
    const s = await scenario('  maxInFlightKeys: 5000', '', {
      top: `metrics:\n  listen: 127.0.0.1:${port}`,
      keyPadding: 220,
    });
    const d = await started(s);
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return Number(m?.[1]);
    };
    const pid = d.child.pid as number;
    const keys = await plant(redis, s.keys(1, 200_001));
    const rowsBefore = await metric('sluice_daemon_rows_total');
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 50);
    const rpid = redisPid();
    process.kill(rpid, 'SIGSTOP');
    let rowsWhilePaused: number[] = [];
    try {
      await burst(s, 1, 200_001, 1000);
      // The whole burst is committed; Redis is away. The source must be paused…
      await vi.waitFor(async () => expect(await metric('sluice_daemon_paused')).toBe(1), {
        timeout: 30_000,
      });
      // …and stay where it paused: rows read stop growing far short of the burst.
      await vi.waitFor(
        async () => {
          rowsWhilePaused.push(await metric('sluice_daemon_rows_total'));
          rowsWhilePaused = rowsWhilePaused.slice(-5);
          expect(rowsWhilePaused).toHaveLength(5);
          expect(new Set(rowsWhilePaused).size).toBe(1);
        },
        { timeout: 30_000, interval: 200 },
      );
      expect(await metric('sluice_daemon_inflight_keys')).toBeLessThanOrEqual(5000 + 1000);
    } finally {
      clearInterval(sampler);
      process.kill(rpid, 'SIGCONT');
    }
    // While Redis was away the daemon held at most the bound: memory stayed flat.
    // (The catch-up after it is bounded too, but churns garbage at full speed.)
    expect(peak - baseline).toBeLessThan(50 * 1024 * 1024);
    const readWhilePaused = (rowsWhilePaused[0] ?? 0) - rowsBefore;
    // Paused after at most the bound plus what the socket had buffered.
    expect(readWhilePaused).toBeLessThan(50_000);
    await caughtUp(s, 90_000);
    expect(await metric('sluice_daemon_rows_total')).toBe(rowsBefore + 200_000);
    expect(await survivors(redis, keys)).toEqual([]);
  });

  it('SIGTERM during a burst: in-flight batch finished, checkpoint stored, exit 0; the restart leaves 0 survivors', async () => {
    const s = await scenario();
    const d = await started(s);
    const keys = await plant(redis, s.keys(1, 50_001));
    const writing = burst(s, 1, 50_001);
    await midBurst(keys);
    const t0 = Date.now();
    d.kill('SIGTERM');
    const exit = await d.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    const stored = await checkpoint(s);
    await writing;
    daemon(s);
    await caughtUp(s);
    expect(stored).not.toBe(null);
    expect(await survivors(redis, keys)).toEqual([]);
  });

  /**
   * FLUSH BINARY LOGS, then PURGE up to the new current file, until every
   * older file is gone (the server keeps a file while a dump thread of the
   * stopped daemon still has it open).
   */
  async function purgeAllButCurrent(): Promise<void> {
    await db.sql('FLUSH BINARY LOGS');
    const head = await db.head();
    await vi.waitFor(
      async () => {
        await db.sql(`PURGE BINARY LOGS TO '${head.file}'`);
        const logs = await db.sql<Array<{ Log_name: string }>>('SHOW BINARY LOGS');
        expect(logs.map((l) => l.Log_name)).toEqual([head.file]);
      },
      { timeout: 10_000, interval: 100 },
    );
  }
});
