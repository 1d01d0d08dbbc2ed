import type { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CliProcess, daemonConfig } from '../helpers/cli.js';
import { randomId } from '../helpers/env.js';
import { plant, survivors, testRedis } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcpProxy.js';
import { admin, binlogUrl, pair, PAIR } from './sourcePair.js';

/**
 * The blind-resume trap: two unrelated servers (scripts/source-pair.sh
 * --standalone), both writing a `binlog.000001`. The checkpoint is an
 * offset of a's that happens to be a transaction boundary in b's file too:
 * streaming it from b would silently skip b's transactions before it. The
 * address (a proxy) now leads to b.
 */
describe('another server at the same address, same file names, unrelated events', () => {
  let redis: Redis;
  let proxy: TcpProxy;
  const database = `t_${randomId()}`;
  const daemons: CliProcess[] = [];
  /** An Xid end in b's binlog.000001 with b's own transactions on both sides of it. */
  let trap: number;
  let aIdentity: { kind: string; serverId: number; domainId: number };

  beforeAll(async () => {
    pair('fresh', '--standalone');
    redis = testRedis();
    for (const [server, width] of [
      ['a', 10],
      ['b', 40],
    ] as const) {
      const conn = await admin(server);
      await conn.query(
        `CREATE DATABASE ${database}; CREATE TABLE ${database}.items (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB`,
      );
      // Different row sizes: the two files share names, not offsets.
      for (let i = 1; i <= 20; i++) {
        await conn.query(`INSERT INTO ${database}.items VALUES (?, ?)`, [i, 'x'.repeat(width)]);
      }
      conn.destroy();
    }
    const b = await admin('b');
    const [events] = await b.query<RowDataPacket[]>("SHOW BINLOG EVENTS IN 'binlog.000001'");
    b.destroy();
    const xids = events.filter((e) => e.Event_type === 'Xid').map((e) => Number(e.End_log_pos));
    trap = xids[9] as number; // after b's 10th row
    aIdentity = { kind: 'mariadb', serverId: 1, domainId: 0 };
    proxy = await TcpProxy.start('127.0.0.1', PAIR.b, 3345);
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) {
      d.kill('SIGKILL');
      await d.exited;
    }
  });

  afterAll(async () => {
    await proxy.close();
    redis.disconnect();
    pair('down', '--purge');
  });

  function scenario(sourceExtra = ''): { source: string; prefix: string; config: string } {
    const source = `trap-${randomId()}`;
    const prefix = `t${randomId()}`;
    const config = daemonConfig({
      source,
      database,
      sourceUrl: binlogUrl(3345),
      rules: { [`${database}.items`]: [`${prefix}:item:{id}`] },
      sourceExtra,
    });
    return { source, prefix, config };
  }

  function keys(prefix: string): string[] {
    return Array.from({ length: 20 }, (_, i) => `${prefix}:item:${i + 1}`);
  }

  function run(config: string): CliProcess {
    const d = new CliProcess(['run', '--config', config]);
    daemons.push(d);
    return d;
  }

  it('a checkpoint without GTID: exit 1 with E_SOURCE_CHANGED, nothing streamed, nothing deleted', async () => {
    const s = scenario();
    const cp = JSON.stringify({ file: 'binlog.000001', pos: trap, server: aIdentity, at: 'x' });
    await redis.set(RedisKeys.checkpoint(s.source), cp);
    const planted = await plant(redis, keys(s.prefix));
    const d = run(s.config);
    const exit = await d.exited;
    expect(exit.code).toBe(1);
    expect(d.stderr).toContain('E_SOURCE_CHANGED');
    expect(d.stderr).toContain(
      `binlog.000001:${trap} belongs to mariadb server_id 1 (domain 0), and 127.0.0.1:3345 (mariadb server_id 2 (domain 0)) answers instead; the checkpoint has no GTID`,
    );
    expect(d.stdout).not.toContain('binlog streaming');
    expect(await redis.get(RedisKeys.checkpoint(s.source))).toBe(cp);
    expect(await survivors(redis, planted)).toEqual(planted);
  });

  it("a checkpoint with GTIDs the other server never had: E_SOURCE_CHANGED, it lacks the checkpoint's transactions", async () => {
    const s = scenario();
    const cp = JSON.stringify({
      file: 'binlog.000001',
      pos: trap,
      gtid: '0-1-22',
      server: aIdentity,
    });
    await redis.set(RedisKeys.checkpoint(s.source), cp);
    const d = run(s.config);
    expect((await d.exited).code).toBe(1);
    expect(d.stderr).toContain('E_SOURCE_CHANGED');
    expect(d.stderr).toContain('it lacks transactions the checkpoint covers (checkpoint 0-1-22');
    expect(d.stdout).not.toContain('binlog streaming');
    expect(await redis.get(RedisKeys.checkpoint(s.source))).toBe(cp);
  });

  it('onSourceChanged: flush empties the mapped key space and continues from the new end', async () => {
    const s = scenario('  onSourceChanged: flush');
    await redis.set(
      RedisKeys.checkpoint(s.source),
      JSON.stringify({ file: 'binlog.000001', pos: trap, server: aIdentity }),
    );
    const planted = await plant(redis, keys(s.prefix));
    const d = run(s.config);
    await vi.waitFor(async () => expect(await survivors(redis, planted)).toEqual([]), {
      timeout: 20_000,
      interval: 50,
    });
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    const b = await admin('b');
    await b.query(`INSERT INTO ${database}.items VALUES (21, 'y')`);
    const [head] = await b.query<RowDataPacket[]>('SHOW MASTER STATUS');
    b.destroy();
    await vi.waitFor(
      async () => {
        const raw = await redis.get(RedisKeys.checkpoint(s.source));
        expect(JSON.parse(raw ?? '{}')).toMatchObject({
          file: String(head[0]?.File),
          pos: Number(head[0]?.Position),
          server: { kind: 'mariadb', serverId: 2, domainId: 0 },
        });
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(d.child.exitCode).toBeNull();
  });
});
