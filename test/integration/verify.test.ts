import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliProcess, daemonConfig, testChannel } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId } from '../helpers/env.js';
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
  const [apiPort, verifyPort, daemonPort] = [await freePort(), await freePort(), await freePort()];
  const table = `${db.name}.users`;
  const config = daemonConfig({
    source,
    database: db.name,
    rules: { [table]: [`${prefix}:user:{id}`] },
    top: `
database:
  url: ${process.env.SLUICE_TEST_APP_URL ?? 'mysql://app:app-secret@127.0.0.1:3307'}/${db.name}
api:
  listen: 127.0.0.1:${apiPort}
  resources:
    users: { table: ${table}, key: "${prefix}:user:{id}" }
metrics:
  listen: 127.0.0.1:${daemonPort}
verify:
  listen: 127.0.0.1:${verifyPort}
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
  let serve: CliProcess | null = null;
  const apiUrl = options.serve ? `http://127.0.0.1:${apiPort}` : null;
  if (options.serve) {
    serve = new CliProcess(['serve', '--config', config]);
    await vi.waitFor(() => expect(serve?.stdout).toContain('listening on'), { timeout: 15_000 });
  }
  const verify = new CliProcess([
    'verify',
    '--config',
    config,
    ...(apiUrl === null ? [] : ['--api', apiUrl]),
  ]);
  await vi.waitFor(() => expect(verify.stdout).toContain('metrics on'), { timeout: 15_000 });
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
    verifyUrl: `http://127.0.0.1:${verifyPort}`,
    daemonUrl: `http://127.0.0.1:${daemonPort}`,
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
