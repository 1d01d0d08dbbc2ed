import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliProcess, daemonConfig, testChannel } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId } from '../helpers/env.js';
import { promtool, sampleValue, scrape } from '../helpers/metrics.js';
import { checkpointText, collectMessages, testRedis } from '../helpers/redis.js';

/**
 * `sluice verify` against a real daemon (`sluice run`), Redis and MariaDB:
 * each test has its own database, key prefix, source name and channel.
 */
interface Stack {
  readonly db: TestDb;
  readonly redis: Redis;
  readonly prefix: string;
  readonly source: string;
  readonly config: string;
  readonly daemon: CliProcess;
  readonly verify: CliProcess;
  readonly verifyUrl: string;
  readonly daemonUrl: string;
  readonly apiUrl: string | null;
  readonly serve: CliProcess | null;
  key(id: number): string;
  stop(): Promise<void>;
}

/**
 * The address (`http://HOST:PORT`) in the first JSON log line of `proc`
 * whose message starts with `msg`; throws (with its stderr) until there is one.
 */
function addressLogged(proc: CliProcess, msg: string): string {
  for (const line of proc.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { msg?: unknown; address?: unknown };
    try {
      entry = JSON.parse(line) as { msg?: unknown; address?: unknown };
    } catch {
      continue;
    }
    if (typeof entry.msg === 'string' && entry.msg.startsWith(msg)) {
      if (typeof entry.address === 'string') return entry.address;
    }
  }
  throw new Error(`no "${msg}" log line with an address yet; stderr: ${proc.stderr.slice(-800)}`);
}

async function startStack(options: {
  serve: boolean;
  windowsMs: number[];
  /** Statements run before the monitor starts (it does not sample their invalidations). */
  seed: string[];
}): Promise<Stack> {
  const db = await TestDb.create();
  await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)');
  const prefix = `v${randomId()}`;
  const source = `verify-${randomId()}`;
  const table = `${db.name}.users`;
  const config = daemonConfig({
    source,
    database: db.name,
    rules: { [table]: [`${prefix}:user:{id}`] },
    top: `
database:
  url: ${process.env.SLUICE_TEST_APP_URL ?? 'mysql://app:app-secret@127.0.0.1:3307'}/${db.name}
api:
  listen: 127.0.0.1:0
  resources:
    users: { table: ${table}, key: "${prefix}:user:{id}" }
metrics:
  listen: 127.0.0.1:0
verify:
  listen: 127.0.0.1:0
  sampleRate: 1
  windowsMs: ${JSON.stringify(options.windowsMs)}
  confirmTimeoutMs: 20000
`,
  });
  const daemon = new CliProcess(['run', '--config', config]);
  await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), { timeout: 15_000 });
  const redis = testRedis();
  for (const statement of options.seed) await db.sql(statement);
  const seeded = await db.headText();
  await vi.waitFor(async () => expect(await checkpointText(redis, source)).toBe(seeded), {
    timeout: 10_000,
  });
  // Every server binds port 0 and logs the address it got: no port picked
  // here can be taken by another test's connection before the process binds it.
  let serve: CliProcess | null = null;
  let apiUrl: string | null = null;
  if (options.serve) {
    const proc = new CliProcess(['serve', '--config', config]);
    serve = proc;
    apiUrl = await vi.waitFor(() => addressLogged(proc, 'listening on'), { timeout: 15_000 });
  }
  const verify = new CliProcess([
    'verify',
    '--config',
    config,
    ...(apiUrl === null ? [] : ['--api', apiUrl]),
  ]);
  const verifyUrl = await vi.waitFor(() => addressLogged(verify, 'metrics on'), {
    timeout: 15_000,
  });
  const daemonUrl = await vi.waitFor(() => addressLogged(daemon, 'metrics on'));
  return {
    db,
    redis,
    prefix,
    source,
    config,
    daemon,
    verify,
    serve,
    apiUrl,
    verifyUrl,
    daemonUrl,
    key: (id) => `${prefix}:user:${id}`,
    stop: async () => {
      for (const p of [verify, serve, daemon]) {
        if (p === null) continue;
        p.kill('SIGCONT');
        p.kill('SIGTERM');
        await p.exited;
      }
      redis.disconnect();
      await db.drop();
    },
  };
}

/** The monitor's log lines about confirmed stale entries. */
function staleLines(verify: CliProcess): Array<Record<string, unknown>> {
  return verify.logs().filter((l) => l.msg === 'stale cache entry confirmed');
}

/** Waits for the bus message that invalidates `key`; returns its `pos`. */
async function invalidated(messages: Array<Record<string, unknown>>, key: string): Promise<string> {
  let pos = '';
  await vi.waitFor(
    () => {
      const m = messages.find((x) => Array.isArray(x.keys) && (x.keys as string[]).includes(key));
      expect(m).toBeDefined();
      pos = String(m?.pos);
    },
    { timeout: 10_000 },
  );
  return pos;
}

describe('sluice verify: stale entries planted behind the daemon are reported', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      serve: true,
      windowsMs: [1000, 4000],
      seed: ["INSERT INTO users VALUES (1, 'ada'), (2, 'alan')"],
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('an old value SET into Redis after its invalidation is confirmed stale in the 1 s window, with key, table, position and age', async () => {
    const bus = await collectMessages(testChannel(s.source));
    try {
      await s.db.sql("UPDATE users SET name = 'grace' WHERE id = 1");
      const pos = await invalidated(bus.messages, s.key(1));
      const plantedAt = Date.now();
      await s.redis.set(s.key(1), 'v{"id":1,"name":"ada"}'); // behind the daemon's back
      await vi.waitFor(() => expect(staleLines(s.verify)).toHaveLength(1), { timeout: 4000 });
      const line = staleLines(s.verify)[0] as Record<string, unknown>;
      expect(line).toMatchObject({
        key: s.key(1),
        resource: 'users',
        table: `${s.db.name}.users`,
        layers: ['l2', 'api'], // serve reads the same L2 entry (and keeps it in L1)
        window: '1s',
        pos,
      });
      expect(line.ageMs as number).toBeGreaterThanOrEqual(1000);
      expect(line.ageMs as number).toBeLessThan(Date.now() - plantedAt + 1000);
      const text = await scrape(s.verifyUrl);
      expect(sampleValue(text, 'sluice_verify_stale_total{window="1s",layer="l2"}')).toBe(1);
      expect(sampleValue(text, 'sluice_verify_checks_total{window="1s"}')).toBe(1);
      expect(sampleValue(text, 'sluice_verify_consistency_nines{window="1s"}')).toBe(0);
    } finally {
      await bus.close();
    }
  });

  it('with --api, a stale L1 copy in sluice serve is caught while L2 is clean', async () => {
    const bus = await collectMessages(testChannel(s.source));
    try {
      await s.db.sql("UPDATE users SET name = 'turing' WHERE id = 2");
      await invalidated(bus.messages, s.key(2));
      // L1 of serve fills from the planted L2 entry, then L2 is cleaned without a message.
      await s.redis.set(s.key(2), 'v{"id":2,"name":"alan"}');
      const res = await fetch(`${s.apiUrl}/v1/users/2`);
      expect(res.headers.get('x-cache')).toBe('l2');
      expect(await res.json()).toEqual({ id: 2, name: 'alan' });
      await s.redis.del(s.key(2));
      await vi.waitFor(
        () => expect(staleLines(s.verify).filter((l) => l.key === s.key(2))).toHaveLength(1),
        { timeout: 4000 },
      );
      expect(staleLines(s.verify).find((l) => l.key === s.key(2))).toMatchObject({
        layers: ['api'],
        window: '1s',
      });
      const text = await scrape(s.verifyUrl);
      expect(sampleValue(text, 'sluice_verify_stale_total{window="1s",layer="api"}')).toBe(2);
      expect(sampleValue(text, 'sluice_verify_stale_total{window="1s",layer="l2"}')).toBe(1);
    } finally {
      await bus.close();
    }
  });

  it('promtool check metrics passes on the live /metrics of run, serve and verify', async () => {
    for (const base of [s.daemonUrl, s.apiUrl as string, s.verifyUrl]) {
      const text = await scrape(base);
      expect(text).toContain('# TYPE');
      const { code, output } = promtool(['check', 'metrics'], text);
      expect({ base, code, output }).toEqual({ base, code: 0, output: '' });
    }
  });
});

/** Waits until every sample has been checked in every window; returns the final scrape. */
async function allDecided(s: Stack, windows: string[]): Promise<string> {
  let text = '';
  await vi.waitFor(
    async () => {
      text = await scrape(s.verifyUrl);
      const samples = sampleValue(text, 'sluice_verify_samples_total') ?? -1;
      expect(samples).toBeGreaterThan(0);
      for (const w of windows) {
        const decided = ['checks', 'unconfirmed', 'errors']
          .map((m) => sampleValue(text, `sluice_verify_${m}_total{window="${w}"}`) ?? 0)
          .reduce((a, b) => a + b, 0);
        expect({ window: w, decided }).toEqual({ window: w, decided: samples });
      }
      expect(sampleValue(text, 'sluice_verify_suspects')).toBe(0);
    },
    { timeout: 30_000, interval: 250 },
  );
  return text;
}

describe('sluice verify: what is not stale is never reported', () => {
  it('a clean write storm with readers filling L1 and L2 reports zero stale entries', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => i + 1);
    const s = await startStack({
      serve: true,
      windowsMs: [1000, 2500],
      seed: [`INSERT INTO users VALUES ${ids.map((id) => `(${id}, 'n0')`).join(', ')}`],
    });
    try {
      let writing = true;
      const reader = async (): Promise<number> => {
        let reads = 0;
        while (writing) {
          const id = ids[reads % ids.length] as number;
          const res = await fetch(`${s.apiUrl}/v1/users/${id}`);
          expect(res.status).toBe(200);
          await res.arrayBuffer();
          reads++;
        }
        return reads;
      };
      const readers = [reader(), reader()];
      for (let i = 1; i <= 300; i++) {
        await s.db.sql('UPDATE users SET name = ? WHERE id = ?', [`n${i}`, ids[i % ids.length]]);
      }
      writing = false;
      const reads = await Promise.all(readers);
      expect(reads.every((n) => n > 0)).toBe(true);
      const text = await allDecided(s, ['1s', '2500ms']);
      // One sample per key of each message: the daemon may batch several
      // updates of a row into one message (a busy machine), so between one
      // per row and one per UPDATE, and every one of them checked per window.
      const samples = sampleValue(text, 'sluice_verify_samples_total') ?? 0;
      expect(samples).toBeGreaterThanOrEqual(ids.length);
      expect(samples).toBeLessThanOrEqual(300);
      for (const w of ['1s', '2500ms']) {
        expect(sampleValue(text, `sluice_verify_checks_total{window="${w}"}`)).toBe(samples);
        expect(sampleValue(text, `sluice_verify_stale_total{window="${w}",layer="l2"}`)).toBe(0);
        expect(sampleValue(text, `sluice_verify_stale_total{window="${w}",layer="api"}`)).toBe(0);
        expect(sampleValue(text, `sluice_verify_unconfirmed_total{window="${w}"}`)).toBe(0);
        expect(sampleValue(text, `sluice_verify_errors_total{window="${w}"}`)).toBe(0);
      }
      // Zero stale of `samples` checks: -log10(1 / (samples + 1)).
      expect(sampleValue(text, 'sluice_verify_consistency_nines{window="1s"}')).toBeCloseTo(
        Math.log10(samples + 1),
        3,
      );
      expect(staleLines(s.verify)).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  it('a write the stopped daemon has not invalidated yet is counted in flight, never stale', async () => {
    const s = await startStack({
      serve: false,
      windowsMs: [1000, 3000],
      seed: ["INSERT INTO users VALUES (1, 'a')"],
    });
    const bus = await collectMessages(testChannel(s.source));
    try {
      await s.db.sql("UPDATE users SET name = 'b' WHERE id = 1");
      await invalidated(bus.messages, s.key(1)); // sampled
      await s.redis.set(s.key(1), 'v{"id":1,"name":"b"}'); // a reader's fill: fresh
      s.daemon.kill('SIGSTOP');
      await s.db.sql("UPDATE users SET name = 'c' WHERE id = 1"); // committed, not invalidated
      // The 1 s check sees "b" against "c" and waits for the daemon's checkpoint.
      await vi.waitFor(
        async () =>
          expect(sampleValue(await scrape(s.verifyUrl), 'sluice_verify_suspects')).toBe(1),
        { timeout: 5000, interval: 50 },
      );
      // While the daemon stays stopped (five times the 200 ms re-read delay),
      // the mismatch stays a suspect: nothing is decided, nothing reported.
      const holdUntil = Date.now() + 1000;
      while (Date.now() < holdUntil) {
        const held = await scrape(s.verifyUrl);
        expect(sampleValue(held, 'sluice_verify_suspects')).toBe(1);
        expect(sampleValue(held, 'sluice_verify_checks_total{window="1s"}')).toBe(0);
      }
      s.daemon.kill('SIGCONT');
      const text = await allDecided(s, ['1s', '3s']);
      // Two samples: "b" (checked while "c" was in flight) and "c" (after SIGCONT).
      expect(sampleValue(text, 'sluice_verify_samples_total')).toBe(2);
      expect(sampleValue(text, 'sluice_verify_in_flight_total{window="1s"}')).toBe(1);
      expect(sampleValue(text, 'sluice_verify_checks_total{window="1s"}')).toBe(2);
      expect(sampleValue(text, 'sluice_verify_checks_total{window="3s"}')).toBe(2);
      for (const w of ['1s', '3s']) {
        expect(sampleValue(text, `sluice_verify_stale_total{window="${w}",layer="l2"}`)).toBe(0);
      }
      expect(staleLines(s.verify)).toEqual([]);
      expect(await s.redis.get(s.key(1))).toBeNull(); // the daemon did delete it
    } finally {
      await bus.close();
      await s.stop();
    }
  });
});
