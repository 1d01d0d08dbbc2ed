import type { Redis } from 'ioredis';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, daemonConfig, runCli, testChannel } from '../helpers/cli.js';
import { randomId } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcpProxy.js';
import { admin, binlogUrl, pair, PAIR, value } from './sourcePair.js';

interface StoredCheckpoint {
  file: string;
  pos: number;
  gtid?: string;
  server?: { kind: string; serverId: number; domainId?: number };
}

/**
 * The source fails over: two MariaDB servers in GTID replication
 * (scripts/source-pair.sh: b replicates a, log_slave_updates,
 * gtid_strict_mode, binlogs at other offsets), the primary killed, the
 * replica promoted. "Nothing skipped": a value is planted under every key
 * the rows map to; once the daemon caught up, every row the new primary
 * holds must have lost its key. The daemon is a real `sluice run`.
 */
describe('a promoted replica takes over the source', () => {
  let redis: Redis;
  const daemons: CliProcess[] = [];
  const proxies: TcpProxy[] = [];
  let database: string;

  beforeAll(() => {
    redis = testRedis();
  });

  // Each test starts from two new servers: a primary, b its replica.
  beforeEach(async () => {
    pair('fresh');
    database = `t_${randomId()}`;
    const a = await admin('a');
    await a.query(
      `CREATE DATABASE ${database}; CREATE TABLE ${database}.items (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`,
    );
    a.destroy();
    await caughtUpReplica('b', 'a');
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) {
      d.kill('SIGKILL');
      await d.exited;
    }
    for (const p of proxies.splice(0)) await p.close();
  });

  afterAll(() => {
    redis.disconnect();
    pair('down', '--purge');
  });

  /** A proxy on `listenPort` in front of a server of the pair. */
  async function proxy(listenPort: number, server: 'a' | 'b'): Promise<TcpProxy> {
    const p = await TcpProxy.start('127.0.0.1', PAIR[server], listenPort);
    proxies.push(p);
    return p;
  }

  /** Waits until `replica` applied everything `primary`'s binlog holds right now. */
  async function caughtUpReplica(replica: 'a' | 'b', primary: 'a' | 'b'): Promise<void> {
    const target = await value(primary, 'SELECT @@gtid_binlog_pos');
    await vi.waitFor(
      async () => expect(await value(replica, 'SELECT @@gtid_slave_pos')).toBe(target),
      { timeout: 30_000, interval: 100 },
    );
  }

  function scenario(
    sourceUrl: string,
    top = '',
  ): { source: string; prefix: string; config: string } {
    const source = `failover-${randomId()}`;
    const prefix = `f${randomId()}`;
    const config = daemonConfig({
      source,
      database,
      sourceUrl,
      rules: { [`${database}.items`]: [`${prefix}:item:{id}`] },
      top,
    });
    return { source, prefix, config };
  }

  function daemon(config: string): CliProcess {
    const d = new CliProcess(['run', '--config', config]);
    daemons.push(d);
    return d;
  }

  async function checkpoint(source: string): Promise<StoredCheckpoint | null> {
    const raw = await redis.get(RedisKeys.checkpoint(source));
    return raw === null ? null : (JSON.parse(raw) as StoredCheckpoint);
  }

  /** Waits until the daemon stored `server`'s current head as its checkpoint. */
  async function caughtUp(source: string, server: 'a' | 'b'): Promise<void> {
    const conn = await admin(server);
    const [rows] = await conn.query<RowDataPacket[]>('SHOW MASTER STATUS');
    conn.destroy();
    const head = `${String(rows[0]?.File)}:${String(rows[0]?.Position)}`;
    await vi.waitFor(
      async () => {
        const cp = await checkpoint(source);
        expect(cp && `${cp.file}:${cp.pos}`).toBe(head);
      },
      { timeout: 30_000, interval: 50 },
    );
  }

  /** Inserts rows [from, to) on `conn`, `perTx` per transaction. */
  async function insert(conn: Connection, from: number, to: number, perTx = 100): Promise<void> {
    for (let i = from; i < to; i += perTx) {
      const rows = Array.from(
        { length: Math.min(perTx, to - i) },
        (_, j) => `(${i + j}, ${i + j})`,
      );
      await conn.query(`INSERT INTO ${database}.items VALUES ${rows.join(',')}`);
    }
  }

  function keys(prefix: string, ids: Iterable<number>): string[] {
    return [...ids].map((id) => `${prefix}:item:${id}`);
  }

  function range(from: number, to: number): number[] {
    return Array.from({ length: to - from }, (_, i) => from + i);
  }

  async function idsOn(server: 'a' | 'b', from: number, to: number): Promise<number[]> {
    const conn = await admin(server);
    try {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT id FROM ${database}.items WHERE id >= ? AND id < ? ORDER BY id`,
        [from, to],
      );
      return rows.map((r) => Number(r.id));
    } finally {
      conn.destroy();
    }
  }

  it('cut off while 3,000 rows change, the primary killed, the replica promoted behind the same address: all 3,000 invalidated by GTID', async () => {
    const address = await proxy(3340, 'a');
    const s = scenario(binlogUrl(3340), 'metrics:\n  listen: 127.0.0.1:3346');
    const bus = await collectMessages(testChannel(s.source));
    const d = daemon(s.config);
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const a = await admin('a');
    await insert(a, 0, 1);
    await caughtUp(s.source, 'a');
    expect((await checkpoint(s.source))?.server).toEqual({
      kind: 'mariadb',
      serverId: 1,
      domainId: 0,
    });

    const planted = await plant(redis, keys(s.prefix, range(1, 3001)));
    await address.down();
    await insert(a, 1, 3001);
    a.destroy();
    await caughtUpReplica('b', 'a');
    pair('kill', 'a');
    pair('promote', 'b');
    address.retarget('127.0.0.1', PAIR.b);
    await address.up();

    await vi.waitFor(async () => expect(await survivors(redis, planted)).toEqual([]), {
      timeout: 60_000,
      interval: 100,
    });
    const followed = d
      .logs()
      .find((l) => l.msg === 'source server changed: following the checkpoint there by GTID');
    expect(followed).toMatchObject({
      level: 'warn',
      previous: 'mariadb server_id 1 (domain 0)',
      now: 'mariadb server_id 2 (domain 0)',
      host: '127.0.0.1:3340',
    });
    const metrics = await (await fetch('http://127.0.0.1:3346/metrics')).text();
    expect(metrics).toMatch(/^sluice_daemon_source_changes_total 1$/m);
    // Readers were told to drop their L1, before the replayed keys.
    const reset = bus.messages.findIndex((m) => m.flush === true);
    const firstReplayed = bus.messages.findIndex(
      (m) => Array.isArray(m.keys) && (m.keys as string[]).includes(`${s.prefix}:item:1`),
    );
    expect(reset).toBeGreaterThanOrEqual(0);
    expect(reset).toBeLessThan(firstReplayed);
    await bus.close();

    // From now on the checkpoint is one of the new server.
    const b = await admin('b');
    await insert(b, 3001, 3002);
    b.destroy();
    await caughtUp(s.source, 'b');
    expect((await checkpoint(s.source))?.server).toEqual({
      kind: 'mariadb',
      serverId: 2,
      domainId: 0,
    });
    await vi.waitFor(
      async () => {
        const status = await runCli(['status', '--json', '--config', s.config]);
        const report = JSON.parse(status.stdout) as { daemon: { leader: { server: string } } };
        expect(report.daemon.leader.server).toBe(
          'mariadb server_id 2 (domain 0) at 127.0.0.1:3340',
        );
      },
      { timeout: 10_000, interval: 500 },
    );
    expect(d.child.exitCode).toBeNull();
  });

  it('several hosts, the primary killed mid-burst: the replica is found and promoted, every row it has is invalidated', async () => {
    // One proxy per server, to cut the daemon off from the primary mid-burst.
    const pa = await proxy(3343, 'a');
    await proxy(3344, 'b');
    // The replica is listed first: it answers, but is read-only.
    const s = scenario(
      'mysql://sluice:sluice-secret@127.0.0.1:3344,127.0.0.1:3343',
      `database:\n  url: mysql://app:app-secret@127.0.0.1:3343/${database}`,
    );
    const d = daemon(s.config);
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    expect(d.logs().find((l) => l.msg === 'binlog connecting')?.host).toBe('127.0.0.1:3343');
    const a = await admin('a');
    await insert(a, 10_000, 10_001);
    await caughtUp(s.source, 'a');

    const planted = await plant(redis, keys(s.prefix, range(10_001, 16_001)));
    // The daemon reads the first half of the burst, then loses a (cut off);
    // b catches up with everything the daemon may have read; the second
    // half is written while a is killed under it.
    await insert(a, 10_001, 13_001);
    await vi.waitFor(
      async () =>
        expect((await survivors(redis, planted)).length).toBeLessThan(planted.length - 500),
      { timeout: 30_000, interval: 20 },
    );
    await pa.down();
    await caughtUpReplica('b', 'a');
    let written = 13_001;
    const burst = (async () => {
      try {
        for (; written < 16_001; written += 20) await insert(a, written, written + 20);
      } catch {
        // a was killed mid-burst
      }
    })();
    await vi.waitFor(() => expect(written).toBeGreaterThan(13_500), {
      timeout: 30_000,
      interval: 5,
    });
    pair('kill', 'a');
    await burst;
    a.destroy();
    expect(written).toBeLessThan(16_001);
    pair('promote', 'b');

    const onB = await idsOn('b', 10_001, 16_001);
    expect(onB.length).toBeGreaterThan(3500);
    await vi.waitFor(async () => expect(await survivors(redis, keys(s.prefix, onB))).toEqual([]), {
      timeout: 60_000,
      interval: 100,
    });
    expect(
      d
        .logs()
        .find((l) => l.msg === 'source server changed: following the checkpoint there by GTID'),
    ).toMatchObject({
      previous: 'mariadb server_id 1 (domain 0)',
      now: 'mariadb server_id 2 (domain 0)',
      host: '127.0.0.1:3344',
    });
    const b = await admin('b');
    await insert(b, 20_000, 20_001);
    b.destroy();
    await caughtUp(s.source, 'b');
    expect((await checkpoint(s.source))?.server?.serverId).toBe(2);

    const check = await runCli(['check-source', '--json', '--config', s.config]);
    const server = (
      JSON.parse(check.stdout) as { checks: Array<{ id: string; message: string }> }
    ).checks.find((c) => c.id === 'server');
    expect(server?.message).toBe(
      '127.0.0.1:3344 is mariadb server_id 2 (domain 0), a primary (read_only off)',
    );
  });

  it('several hosts, a planned switchover: the primary turns read-only, the daemon moves to the new one', async () => {
    await proxy(3343, 'a');
    await proxy(3344, 'b');
    const s = scenario(
      'mysql://sluice:sluice-secret@127.0.0.1:3343,127.0.0.1:3344',
      `database:\n  url: mysql://app:app-secret@127.0.0.1:3343/${database}`,
    );
    const d = daemon(s.config);
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const a = await admin('a');
    await insert(a, 30_000, 30_001);
    await caughtUp(s.source, 'a');

    const planted = await plant(redis, keys(s.prefix, range(30_001, 31_001)));
    await insert(a, 30_001, 30_501);
    a.destroy();
    pair('demote', 'a');
    await caughtUpReplica('b', 'a');
    pair('promote', 'b');
    const b = await admin('b');
    await insert(b, 30_501, 31_001);
    b.destroy();
    // The connection to a is never cut: only its read_only tells.
    await vi.waitFor(async () => expect(await survivors(redis, planted)).toEqual([]), {
      timeout: 30_000,
      interval: 100,
    });
    expect(
      d
        .logs()
        .some((l) => String(l.err).includes('127.0.0.1:3343 is read-only (no longer the primary)')),
    ).toBe(true);
    expect(
      d
        .logs()
        .find((l) => l.msg === 'source server changed: following the checkpoint there by GTID'),
    ).toMatchObject({
      previous: 'mariadb server_id 1 (domain 0)',
      now: 'mariadb server_id 2 (domain 0)',
      host: '127.0.0.1:3344',
    });
  });
});
