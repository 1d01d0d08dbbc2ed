import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Redis } from 'ioredis';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeEntry } from '../../src/cache/codec.js';
import { canonicalJson, normalizeRow } from '../../src/db/rows.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { writeStatus, type DaemonStatus } from '../../src/pipeline/checkpoint/StatusRecord.js';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { runCli, writeConfig, type CliResult } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId, randomServerId, testEnv } from '../helpers/env.js';
import { collectMessages, plant, survivors, testRedis } from '../helpers/redis.js';

/** The MariaDB server binary, found as scripts/services.sh finds it (Debian's path, else PATH). */
function findMariadbd(): string {
  const dirs = ['/usr/sbin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, 'mariadbd'), constants.X_OK);
      return join(dir, 'mariadbd');
    } catch {
      // not here
    }
  }
  throw new Error('mariadbd not found in /usr/sbin or on PATH');
}

/**
 * The operator commands as a user runs them: the compiled CLI against the
 * project's MariaDB and Redis (`npm run build` first). Every test has its
 * own database, key prefix and source name.
 */
describe('operator CLI', () => {
  let db: TestDb;
  let redis: Redis;
  const p = `cli${randomId()}`;
  const source = `cli-${randomId()}`;
  let cfg: string;
  const k = (s: string): string => `${p}:${s}`;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
    await db.sql(`CREATE TABLE users (
      id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255)
    ) ENGINE=InnoDB`);
    await db.sql(`CREATE TABLE items (
      id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4, price DECIMAL(10,2),
      big BIGINT, created DATETIME(3), tag VARBINARY(8), note TEXT
    ) ENGINE=InnoDB`);
    cfg = writeConfig(`
source:
  name: ${source}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  heartbeatMs: 300
database:
  url: ${testEnv.appUrl}/${db.name}
redis:
  url: ${testEnv.redisUrl}
invalidation:
  channel: sluice:test:${source}
rules:
  - table: ${db.name}.users
    keys: ["${p}:user:{id}", "${p}:user:email:{email}"]
  - table: ${db.name}.items
    keys: ["${p}:item:{id}", "${p}:item:name:{name}"]
api:
  resources:
    users: { table: ${db.name}.users, key: "${p}:user:{id}" }
    items: { table: ${db.name}.items, key: "${p}:item:{id}" }
`);
  });

  afterAll(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(keys);
    } while (cursor !== '0');
    await redis.del(
      RedisKeys.checkpoint(source),
      RedisKeys.status(source),
      RedisKeys.lastError(source),
    );
    await db.drop();
    redis.disconnect();
  });

  function sluice(...args: string[]): Promise<CliResult> {
    return runCli([...args, '--config', cfg]);
  }

  function serverIdentity(): ReturnType<TestDb['identity']> {
    return db.identity();
  }

  function json<T>(res: CliResult): T {
    expect(res.stderr).toBe('');
    return JSON.parse(res.stdout) as T;
  }

  describe('replay', () => {
    let from: string;
    let to: string;
    const inside = ['user:2', 'user:email:b@x', 'user:3', 'user:email:c@x', 'user:email:c2@x'];
    const outside = ['user:1', 'user:email:a@x', 'user:4', 'user:email:d@x'];

    beforeAll(async () => {
      await db.sql(`INSERT INTO users VALUES (1, 'a@x', 'A')`);
      from = await db.headText();
      await db.sql(`INSERT INTO users VALUES (2, 'b@x', 'B'), (3, 'c@x', 'C')`);
      await db.sql(`UPDATE users SET email = 'c2@x' WHERE id = 3`);
      to = await db.headText();
      await db.sql(`INSERT INTO users VALUES (4, 'd@x', 'D')`);
    });

    it('--dry-run prints exactly the keys of the range, each once, and deletes nothing', async () => {
      const planted = await plant(redis, [...inside, ...outside].map(k));
      const res = await sluice('replay', '--from', from, '--to', to, '--dry-run');
      expect(res.code).toBe(0);
      const lines = res.stdout.trimEnd().split('\n');
      expect(lines.sort()).toEqual(inside.map(k).sort());
      expect(res.stderr).toContain(`replay ${from} → ${to} (dry run): `);
      expect(res.stderr).toMatch(/ 3 rows, 5 keys /);
      expect(await survivors(redis, planted)).toEqual(planted);

      // Without --to the range ends at the server's head: row 4 is in it.
      const toHead = await sluice('replay', '--from', from, '--dry-run');
      expect(toHead.code).toBe(0);
      expect(toHead.stdout.trimEnd().split('\n').sort()).toEqual(
        [...inside, 'user:4', 'user:email:d@x'].map(k).sort(),
      );
    });

    it('deletes exactly the keys of the range, publishes them, and leaves the checkpoint untouched', async () => {
      const checkpoint = JSON.stringify({ file: 'binlog.000001', pos: 4, at: 'fixed' });
      await redis.set(RedisKeys.checkpoint(source), checkpoint);
      await plant(redis, [...inside, ...outside].map(k));
      const bus = await collectMessages(`sluice:test:${source}`);

      const res = await sluice(
        'replay',
        '--from',
        from,
        '--to',
        to,
        '--max-keys-per-sec',
        '100000',
      );
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(/ 3 rows, 5 keys deleted /);
      expect(await survivors(redis, inside.map(k))).toEqual([]);
      expect(await survivors(redis, outside.map(k))).toEqual(outside.map(k));
      expect(await redis.get(RedisKeys.checkpoint(source))).toBe(checkpoint);

      // One message per batch: wait for all of them, then compare exactly.
      await vi.waitFor(() => {
        const published = bus.messages.flatMap((m) => (m.keys as string[] | undefined) ?? []);
        expect(published.sort()).toEqual(inside.map(k).sort());
      });
      expect(bus.messages.every((m) => String(m.src).startsWith(`${source}:replay:`))).toBe(true);
      await bus.close();
      await redis.del(RedisKeys.checkpoint(source));
    });

    it('refuses a purged or unknown position with exit 1 and a malformed one with exit 2', async () => {
      const unknown = await sluice('replay', '--from', 'binlog.999999:4', '--dry-run');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain(
        'E_POSITION_LOST: binlog.999999 is not on the server (purged?)',
      );
      expect(unknown.stdout).toBe('');

      const head = await db.head();
      const beyond = await sluice('replay', '--from', from, '--to', `${head.file}:999999999999`);
      expect(beyond.code).toBe(1);
      expect(beyond.stderr).toContain(
        `${head.file}:999999999999 is beyond the end of ${head.file}`,
      );

      const malformed = await sluice('replay', '--from', 'nonsense', '--dry-run');
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toContain(
        'E_POSITION_INVALID: --from: "nonsense" is not a binlog position',
      );

      const reversed = await sluice('replay', '--from', to, '--to', from, '--dry-run');
      expect(reversed.code).toBe(2);
      expect(reversed.stderr).toContain(`--from ${to} is after --to ${from}`);
    });
  });

  describe('position', () => {
    it('set then show round-trips; refused while a daemon holds the source unless --force', async () => {
      await db.sql(`INSERT INTO users VALUES (10, 'p@x', 'P')`);
      const head = await db.head();
      const set = await sluice('position', 'set', `${head.file}:${head.pos}`);
      expect(set.code).toBe(0);
      expect(set.stdout).toContain(
        `checkpoint of source ${source} set to ${head.file}:${head.pos}`,
      );

      const shown = json<{
        key: string;
        checkpoint: { file: string; pos: number; gtid?: string; server?: unknown };
      }>(await sluice('position', 'show', '--json'));
      expect(shown.key).toBe(RedisKeys.checkpoint(source));
      expect(shown.checkpoint).toMatchObject({ file: head.file, pos: head.pos });
      expect(shown.checkpoint.gtid).toMatch(/^\d+-\d+-\d+/);
      // FILE:POS belongs to the server it was set on: the daemon checks it before streaming.
      expect(shown.checkpoint.server).toEqual(await serverIdentity());
      const text = await sluice('position', 'show');
      expect(text.stdout.split('\n')[0]).toBe(`checkpoint: ${head.file}:${head.pos}`);

      const lost = await sluice('position', 'set', 'binlog.999999:4');
      expect(lost.code).toBe(1);
      expect(lost.stderr).toContain('binlog.999999 is not on the server (purged?)');
      const midEvent = await sluice('position', 'set', `${head.file}:${head.pos - 1}`);
      expect(midEvent.code).toBe(2);
      expect(midEvent.stderr).toContain('is not the start of a binlog event');

      await writeStatus(redis, source, fakeStatus());
      const refused = await sluice('position', 'set', `${head.file}:4`);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `sluice: E_SOURCE_BUSY: a daemon is running for source ${source} (instance test-instance`,
      );
      expect((await sluice('position', 'show', '--json')).stdout).toContain(`"pos": ${head.pos}`);

      const forced = await sluice('position', 'set', `${head.file}:4`, '--force', '--json');
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout)).toMatchObject({
        previous: { file: head.file, pos: head.pos },
        checkpoint: { file: head.file, pos: 4 },
      });
      await redis.del(RedisKeys.status(source));
    });

    it('set gtid:SET stores the position right after that transaction', async () => {
      await db.sql(`INSERT INTO users VALUES (11, 'g@x', 'G')`);
      const [row] = await db.sql<RowDataPacket[]>('SELECT @@last_gtid AS g');
      const gtid = String(row?.g);
      const res = await sluice('position', 'set', `gtid:${gtid}`, '--json');
      expect(res.code).toBe(0);
      const cp = (
        JSON.parse(res.stdout) as { checkpoint: { file: string; pos: number; gtid: string } }
      ).checkpoint;
      expect(cp.gtid).toBe(gtid);
      const [at] = await db.sql<RowDataPacket[]>('SELECT BINLOG_GTID_POS(?, ?) AS g', [
        cp.file,
        cp.pos,
      ]);
      expect(String(at?.g)).toBe(gtid);
    });
  });

  describe('status', () => {
    it('reports lag that falls to 0 once a daemon caught up, the daemon and its last error', async () => {
      const behind = await db.headText();
      await db.sql(`INSERT INTO users VALUES (20, 's@x', 'S'), (21, 't@x', 'T')`);
      const [file, pos] = behind.split(':') as [string, string];
      await redis.set(
        RedisKeys.checkpoint(source),
        JSON.stringify({ file, pos: Number(pos), at: 'x' }),
      );
      await redis.set(
        RedisKeys.lastError(source),
        JSON.stringify({
          code: 'E_POSITION_LOST',
          message: 'binlog.000001 purged',
          at: '2020-01-01T00:00:00Z',
        }),
      );

      interface Report {
        checkpoint: { file: string; pos: number } | null;
        head: string;
        lag: { bytes: number | null; seconds: number | null };
        daemon: {
          running: boolean;
          leader: { pid: number; instance: string; server?: string | null } | null;
        };
        lastError: { code: string } | null;
        server: string;
      }
      const before = json<Report>(await sluice('status', '--json'));
      expect(before.checkpoint).toMatchObject({ file, pos: Number(pos) });
      expect(before.lag.bytes).toBeGreaterThan(0);
      expect(before.lag.seconds).toBeNull();
      expect(before.daemon).toEqual({ running: false, leader: null });
      expect(before.lastError?.code).toBe('E_POSITION_LOST');
      expect(before.server).not.toContain('sluice-secret');

      const daemon = await startDaemon(
        { [`${db.name}.users`]: [`${p}:user:{id}`] },
        { startFrom: 'checkpoint', source: { name: source } },
      );
      try {
        await vi.waitFor(
          async () => {
            const now = json<Report>(await sluice('status', '--json'));
            expect(now.lag).toEqual({ bytes: 0, seconds: 0 });
            expect(now.daemon.running).toBe(true);
            expect(now.daemon.leader?.pid).toBe(process.pid);
            // The daemon's status record names its server once it streams; the first
            // one, written while connecting, does not (CI read the text in between).
            expect(now.daemon.leader?.server ?? null).not.toBeNull();
          },
          { timeout: 20_000, interval: 200 },
        );
        const text = await sluice('status');
        expect(text.code).toBe(0);
        expect(text.stdout).toContain(
          `daemon      running: ${daemon.invalidator.instance} (pid ${process.pid}`,
        );
        expect(text.stdout).toContain(
          'last error  E_POSITION_LOST at 2020-01-01T00:00:00Z: binlog.000001 purged',
        );
        const { serverId, domainId } = await serverIdentity();
        expect(text.stdout).toContain(
          `reading     mariadb server_id ${serverId} (domain ${domainId}) at 127.0.0.1:${new URL(testEnv.sourceUrl).port}`,
        );
        expect(text.stdout).not.toContain('sluice-secret');
      } finally {
        await daemon.stop();
      }
    });
  });

  describe('explain', () => {
    it('prints the keys of both images of an update, as lines or JSON', async () => {
      const args = [
        'explain',
        '--table',
        `${db.name}.users`,
        '--before',
        '{"id": 18446744073709551615, "email": "old@x"}',
        '--row',
        '{"id": 18446744073709551615, "email": "new@x"}',
      ];
      const res = await sluice(...args);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(
        [`user:18446744073709551615`, 'user:email:old@x', 'user:email:new@x'].map(k).join('\n') +
          '\n',
      );
      expect(json<string[]>(await sluice(...args, '--json'))).toEqual(
        [`user:18446744073709551615`, 'user:email:old@x', 'user:email:new@x'].map(k),
      );
      const insert = await sluice(
        'explain',
        '--table',
        `${db.name}.users`,
        '--row',
        '{"id":5,"email":null}',
      );
      expect(insert.stdout).toBe(`${k('user:5')}\n`);
    });

    it('an unmapped table or bad JSON is bad usage (exit 2)', async () => {
      const unmapped = await sluice('explain', '--table', `${db.name}.nope`, '--row', '{"id":1}');
      expect(unmapped.code).toBe(2);
      expect(unmapped.stderr).toContain(`E_USAGE: table ${db.name}.nope is not mapped by any rule`);
      const bad = await sluice('explain', '--table', `${db.name}.users`, '--row', '[1]');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--row: must be a JSON object');
    });
  });

  describe('audit', () => {
    /** The entry the cache module would store for a row: `v` + canonical normalised JSON. */
    let entries: Map<number, string>;
    let reader: Connection;

    beforeAll(async () => {
      await db.sql(`INSERT INTO items VALUES
        (1, 'Zoë 🐳', 12.50, 9007199254740993, '2024-02-29 23:59:59.123', X'00ff', 'x'),
        (2, 'plain', NULL, -1, NULL, NULL, NULL),
        (3, 'third', 0.01, 0, '1999-01-01 00:00:00', X'', '')`);
      reader = await createConnection({
        ...mysqlConnectionOptions(`${testEnv.appUrl}/${db.name}`),
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: false,
        timezone: 'Z',
      });
      const [rows] = await reader.query<RowDataPacket[]>('SELECT * FROM items');
      entries = new Map(
        rows.map((r) => [
          Number(r.id),
          encodeEntry({ present: true, value: JSON.parse(canonicalJson(normalizeRow(r))) }),
        ]),
      );
    });

    afterAll(async () => {
      await reader.end();
    });

    interface Audit {
      total: Record<string, number>;
      resources: Record<string, Record<string, number>>;
      examples: { key: string; kind: string }[];
    }

    it('a clean cache exits 0; planted stale, negative and missing entries exit 1 with exact counts', async () => {
      for (const [id, value] of entries) await redis.set(k(`item:${id}`), value);
      await redis.set(k('item:99'), 'n'); // negative entry, row absent: fresh
      await redis.set(k('item:name:plain'), 'v{}'); // another template: skipped

      const clean = await sluice('audit', '--json');
      expect(clean.code).toBe(0);
      const ok = JSON.parse(clean.stdout) as Audit;
      expect(ok.resources.items).toMatchObject({
        checked: 4,
        fresh: 4,
        stale: 0,
        negativeButPresent: 0,
        skipped: 1,
      });

      await redis.set(k('item:2'), (entries.get(2) as string).replace('"plain"', '"PLAIN"'));
      await redis.set(k('item:3'), 'n');
      await redis.set(k('item:98'), 'v{"id":98}');
      await redis.set(k('item:97'), 'garbage');
      const dirty = await sluice('audit', '--json');
      expect(dirty.code).toBe(1);
      const bad = JSON.parse(dirty.stdout) as Audit;
      expect(bad.resources.items).toEqual({
        table: `${db.name}.items`,
        pattern: `${p}:item:*`,
        checked: 5,
        fresh: 2,
        stale: 2,
        negativeButPresent: 1,
        presentButMissing: 1,
        foreign: 1,
        lists: 0,
        skipped: 1,
      });
      expect(bad.examples.map((e) => `${e.kind} ${e.key}`).sort()).toEqual(
        [
          `negativeButPresent ${k('item:3')}`,
          `presentButMissing ${k('item:98')}`,
          `value ${k('item:2')}`,
        ].sort(),
      );
      const text = await sluice('audit');
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`stale: ${k('item:2')}`);
      expect(text.stdout).toContain('3 inconsistent entries: 5 checked');
      await redis.unlink(
        ['item:2', 'item:3', 'item:98', 'item:97', 'item:99', 'item:name:plain'].map(k),
      );
    });

    // How fast is for the benchmark; here: every one of 100,000 keys is checked.
    it('audits 100,000 keys: each checked and fresh; --sample checks at most N', async () => {
      const n = 100_000;
      const base = 1_000_000;
      for (let i = 0; i < n; i += 10_000) {
        const values: string[] = [];
        for (let id = base + i; id < base + i + 10_000; id++)
          values.push(`(${id}, 'u${id}@x', 'n')`);
        await db.sql(`INSERT INTO users VALUES ${values.join(',')}`);
      }
      const keys: string[] = [];
      for (let id = base; id < base + n; id++) keys.push(k(`user:${id}`));
      for (let i = 0; i < n; i += 10_000) {
        const pipe = redis.pipeline();
        for (let id = base + i; id < base + i + 10_000; id++) {
          // BIGINT comes back as a string (bigNumberStrings), and so the cache stores it.
          pipe.set(
            k(`user:${id}`),
            'v' + canonicalJson({ id: String(id), email: `u${id}@x`, name: 'n' }),
          );
        }
        await pipe.exec();
      }
      const res = await sluice('audit', '--json');
      expect(res.code, res.stdout.slice(0, 3000) + res.stderr).toBe(0);
      const report = JSON.parse(res.stdout) as Audit;
      expect(report.resources.users).toMatchObject({ checked: n, fresh: n, stale: 0 });
      await redis.unlink(keys);

      const sampled = json<Audit>(await sluice('audit', '--json', '--sample', '10'));
      expect(sampled.resources.users?.checked).toBeLessThanOrEqual(10);
    });
  });

  describe('check-source', () => {
    it('a source nobody answers on: E_SOURCE_CONNECT, exit 1, the password redacted', async () => {
      const port = await freePort();
      const res = await runCli(['position', 'set', 'binlog.000001:4', '--config', cfg], {
        SLUICE_SOURCE_URL: `mysql://sluice:sluice-secret@127.0.0.1:${port}/app`,
      });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('sluice: E_SOURCE_CONNECT: ');
      expect(res.stderr).toContain(`127.0.0.1:${port}`);
      expect(res.stderr).not.toContain('sluice-secret');
    });

    it('passes on the test server', async () => {
      const res = await sluice('check-source');
      expect(res.code).toBe(0);
      for (const id of [
        'log_bin',
        'binlog_format',
        'binlog_row_image',
        'binlog_row_metadata',
        'server_id',
      ]) {
        expect(res.stdout).toMatch(new RegExp(`^PASS  ${id} `, 'm'));
      }
      expect(res.stdout).not.toContain('sluice-secret');
      const report = json<{ ok: boolean; checks: { id: string; status: string }[] }>(
        await sluice('check-source', '--json'),
      );
      expect(report.ok).toBe(true);
      expect(report.checks.find((c) => c.id === 'grant_select')?.status).toBe('pass');
      const { serverId, domainId } = await serverIdentity();
      expect(report.checks.find((c) => c.id === 'server')).toEqual({
        id: 'server',
        status: 'pass',
        message: `127.0.0.1:${new URL(testEnv.sourceUrl).port} is mariadb server_id ${serverId} (domain ${domainId}), a primary (read_only off)`,
      });
    });
  });
});

/**
 * A throwaway MariaDB started with --binlog-row-metadata=MINIMAL: what
 * check-source must reject, and where replay must refuse ranges followed by
 * a schema change.
 */
describe('on a server without FULL row metadata', () => {
  let dir: string;
  let server: ChildProcess;
  let root: Connection;
  let port: number;
  let redis: Redis;
  const p = `min${randomId()}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-mdb-'));
    const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
    execFileSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${dir}/data`,
        ...asRoot,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ],
      { stdio: 'ignore' },
    );
    port = await freePort();
    server = spawn(
      findMariadbd(),
      [
        '--no-defaults',
        ...asRoot,
        `--datadir=${dir}/data`,
        `--socket=${dir}/s.sock`,
        `--pid-file=${dir}/p.pid`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        `--log-error=${dir}/error.log`,
        '--log-bin=binlog',
        '--binlog-format=ROW',
        '--binlog-row-image=FULL',
        '--binlog-row-metadata=MINIMAL',
        '--server-id=9',
        '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M',
        '--innodb-use-native-aio=0',
        '--default-time-zone=+00:00',
      ],
      { stdio: 'ignore' },
    );
    root = await vi.waitFor(
      () =>
        createConnection({ socketPath: `${dir}/s.sock`, user: 'root', multipleStatements: true }),
      { timeout: 30_000, interval: 100 },
    );
    await root.query(`
      DELETE FROM mysql.global_priv WHERE User = '';
      FLUSH PRIVILEGES;
      CREATE USER 'sluice'@'%' IDENTIFIED BY 'sluice-secret';
      GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'sluice'@'%';
      CREATE DATABASE app;
      CREATE TABLE app.t (id INT PRIMARY KEY, a INT) ENGINE=InnoDB;`);
    redis = testRedis();
  });

  afterAll(async () => {
    redis.disconnect();
    await root?.end().catch(() => undefined);
    if (server?.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function config(): string {
    return writeConfig(`
source:
  name: min-${p}
  url: mysql://sluice:sluice-secret@127.0.0.1:${port}/app
  serverId: ${randomServerId()}
  heartbeatMs: 300
redis:
  url: ${testEnv.redisUrl}
rules:
  - table: app.t
    keys: ["${p}:t:{id}"]
`);
  }

  async function head(): Promise<string> {
    const [rows] = await root.query<RowDataPacket[]>('SHOW MASTER STATUS');
    return `${String(rows[0]?.File)}:${String(rows[0]?.Position)}`;
  }

  it('check-source fails and names binlog_row_metadata with the fix', async () => {
    const cfg = config();
    const res = await runCli(['check-source', '--config', cfg]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /^FAIL {2}binlog_row_metadata +binlog_row_metadata is MINIMAL, must be FULL/m,
    );
    expect(res.stdout).toContain('--binlog-row-metadata=FULL');
    expect(res.stdout).toMatch(/^PASS {2}binlog_format /m);
    expect(res.stdout).toContain('1 check failed');
    const report = JSON.parse(
      (await runCli(['check-source', '--json', '--config', cfg])).stdout,
    ) as {
      ok: boolean;
      checks: { id: string; status: string }[];
    };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual([
      'binlog_row_metadata',
    ]);
  });

  it('run refuses the server: E_SOURCE_SETTINGS naming binlog_row_metadata, exit 1', async () => {
    const res = await runCli(['run', '--config', config()]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('sluice: E_SOURCE_SETTINGS: the source server cannot be used:');
    expect(res.stderr).toContain(
      'binlog_row_metadata: binlog_row_metadata is MINIMAL, must be FULL',
    );
  });

  it('replay refuses a range whose table was altered since, unless --force', async () => {
    const cfg = config();
    const from = await head();
    await root.query('INSERT INTO app.t VALUES (1, 1)');
    const to = await head();
    await root.query('ALTER TABLE app.t ADD COLUMN b INT');

    const refused = await runCli([
      'replay',
      '--from',
      from,
      '--to',
      to,
      '--dry-run',
      '--config',
      cfg,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('E_SCHEMA_MISMATCH: app.t changed at');
    expect(refused.stderr).toContain('binlog_row_metadata=MINIMAL');
    expect(refused.stdout).toBe('');

    const forced = await runCli([
      'replay',
      '--from',
      from,
      '--to',
      to,
      '--dry-run',
      '--force',
      '--config',
      cfg,
    ]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe(`${p}:t:1\n`);

    // A range after the last schema change needs no --force.
    const after = await head();
    await root.query('INSERT INTO app.t VALUES (2, 2, 2)');
    const clean = await runCli(['replay', '--from', after, '--dry-run', '--config', cfg]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe(`${p}:t:2\n`);
  });
});

function fakeStatus(): DaemonStatus {
  const now = new Date().toISOString();
  return {
    instance: 'test-instance',
    pid: 1,
    host: 'test-host',
    startedAt: now,
    updatedAt: now,
    lastEventAt: 0,
    readPosition: null,
    checkpoint: null,
    connected: true,
    paused: false,
    seq: 0,
    lastError: null,
  };
}
