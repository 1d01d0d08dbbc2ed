import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fenceToken } from '../../src/db/fenceToken.js';
import { CliProcess, daemonConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, testEnv } from '../helpers/env.js';

/**
 * Read your own writes through `sluice serve` with a real daemon process: a
 * writer that updates a row and reads it back with its fence token never
 * sees the old value, while the daemon runs, while it is stopped (SIGSTOP),
 * and across a restart; without the token the cache does answer with the
 * old value (control arm).
 */
describe('read your own writes (X-Sluice-After)', () => {
  let db: TestDb;
  let writer: Connection;
  let config: string;
  let daemon: CliProcess;
  let serve: CliProcess;
  let base: string;
  const p = `ryw${randomId()}`;
  const source = `ryw-${randomId()}`;

  async function startDaemon(): Promise<CliProcess> {
    const d = new CliProcess(['run', '--config', config]);
    await vi.waitFor(() => expect(d.stdout).toContain('binlog streaming'), { timeout: 20_000 });
    return d;
  }

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB');
    await db.sql(`INSERT INTO users VALUES (1, 'v0')`);
    config = daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.users`]: [`${p}:user:{id}`] },
      top: `database:\n  url: ${testEnv.appUrl}/${db.name}\napi:\n  fenceWaitMs: 300\n  resources:\n    users: { table: ${db.name}.users, key: "${p}:user:{id}" }`,
    });
    daemon = await startDaemon();
    serve = new CliProcess(['serve', '--config', config, '--listen', '127.0.0.1:0'], {
      SLUICE_LOG_LEVEL: 'info',
    });
    base = await vi.waitFor(
      () => {
        const line = serve.logs().find((l) => String(l.msg).startsWith('listening on'));
        if (line === undefined) throw new Error(`serve is not listening yet:\n${serve.stderr}`);
        return String(line.address);
      },
      { timeout: 20_000, interval: 50 },
    );
    writer = await createConnection({ uri: `${testEnv.appUrl}/${db.name}` });
  }, 60_000);

  afterAll(async () => {
    await writer?.end();
    for (const proc of [serve, daemon]) {
      proc?.kill('SIGCONT');
      proc?.kill('SIGTERM');
    }
    await Promise.all([serve?.exited, daemon?.exited]);
    await db?.drop();
  });

  async function get(
    headers: Record<string, string> = {},
  ): Promise<{ name: string; cache: string }> {
    const res = await fetch(`${base}/v1/users/1`, { headers });
    const body = (await res.json()) as { name: string };
    return { name: body.name, cache: res.headers.get('x-cache') ?? '' };
  }

  let version = 0;
  /** One round: UPDATE, then read back (with the commit's token when `fenced`). */
  async function round(fenced: boolean): Promise<{ fresh: boolean; cache: string }> {
    const name = `v${++version}`;
    await writer.query('UPDATE users SET name = ? WHERE id = 1', [name]);
    const headers = fenced ? { 'x-sluice-after': await fenceToken(writer) } : {};
    const answer = await get(headers);
    return { fresh: answer.name === name, cache: answer.cache };
  }

  async function rounds(n: number, fenced: boolean, during?: (i: number) => Promise<void>) {
    const out = { stale: 0, byCache: new Map<string, number>() };
    for (let i = 0; i < n; i++) {
      await during?.(i);
      const r = await round(fenced);
      if (!r.fresh) out.stale++;
      out.byCache.set(r.cache, (out.byCache.get(r.cache) ?? 0) + 1);
    }
    return out;
  }

  /** Reads without a token until the cache answers with the current row from L1. */
  async function warm(): Promise<void> {
    await vi.waitFor(async () => expect((await get()).cache).toBe('l1'), { timeout: 10_000 });
  }

  it('the writer gets a MariaDB GTID for its own commit', async () => {
    await writer.query(`UPDATE users SET name = 'gtid' WHERE id = 1`);
    const first = await fenceToken(writer);
    expect(first).toMatch(/^\d+-\d+-\d+$/);
    await writer.query(`UPDATE users SET name = 'v0' WHERE id = 1`);
    const [domain, server, seq] = first.split('-').map(Number) as [number, number, number];
    // The session's own next commit (a GTID replica or other sessions may interleave: at least +1).
    const next = (await fenceToken(writer)).split('-').map(Number) as [number, number, number];
    expect([next[0], next[1]]).toEqual([domain, server]);
    expect(next[2]).toBeGreaterThan(seq);
  });

  it('2,000 rounds with the token: never the old value, answered from the cache once the watermark passed', async () => {
    await warm();
    const r = await rounds(2000, true);
    expect(r.stale).toBe(0);
    // Most answers come through the cache path (the watermark passed during the wait).
    const viaCache =
      (r.byCache.get('miss') ?? 0) + (r.byCache.get('l2') ?? 0) + (r.byCache.get('l1') ?? 0);
    expect(viaCache).toBeGreaterThan(0);
  });

  it('while the daemon is stopped (SIGSTOP) and across its restart: never the old value', async () => {
    await warm();
    const r = await rounds(250, true, async (i) => {
      if (i === 50) daemon.kill('SIGSTOP');
      if (i === 70) daemon.kill('SIGCONT');
      if (i === 150) {
        daemon.kill('SIGTERM');
        await daemon.exited;
        daemon = await startDaemon();
      }
    });
    expect(r.stale).toBe(0);
    // While it was stopped the watermark could not pass: those reads went to the database.
    expect(r.byCache.get('fenced') ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('control arm: the same rounds without the token do see the old value', async () => {
    await warm();
    // The daemon stopped: nothing invalidates, and the cache still serves (heartbeats are
    // missed only after three periods).
    daemon.kill('SIGSTOP');
    try {
      const r = await rounds(20, false);
      expect(r.stale).toBeGreaterThan(0);
      expect(r.byCache.get('l1') ?? 0).toBeGreaterThan(0);
    } finally {
      daemon.kill('SIGCONT');
    }
  });

  it('a token that does not parse is a 400 with its code', async () => {
    const res = await fetch(`${base}/v1/users/1`, { headers: { 'x-sluice-after': 'not-a-token' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'E_FENCE_TOKEN_INVALID',
    );
    const many = await fetch(`${base}/v1/users?ids=1`, { headers: { 'x-sluice-after': '0-1' } });
    expect(many.status).toBe(400);
  });
});
