import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliProcess, writeConfig } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/**
 * Many readers: two `sluice serve` processes (the compiled CLI, `npm run
 * build` first) share one Redis (L2) and each keep their own L1. The daemon
 * runs in-process on the same channel. A plain-SQL write must reach both L1s
 * through the bus: once the daemon's invalidation message for the key has
 * been published (this test subscribes to the channel and sees it), each
 * process turns fresh within a bounded time, and never answers with the old
 * row again after its first fresh answer.
 */

const WAIT = { timeout: 10_000, interval: 20 };

interface Answer {
  readonly status: number;
  readonly cache: string;
  readonly name: string | null;
}

/** One `sluice serve` process and the address it listens on. */
interface Reader {
  readonly label: string;
  readonly process: CliProcess;
  readonly base: string;
}

describe('two sluice serve processes behind one Redis', () => {
  let db: TestDb;
  let daemon: TestDaemon;
  let sub: Redis;
  const readers: Reader[] = [];
  const p = `rd${randomId()}`;
  const userKey = (id: number): string => `${p}:user:${id}`;

  /** Keys of the invalidation messages the test has seen, and who waits for which. */
  const seen = new Set<string>();
  const waiters = new Map<string, () => void>();

  async function startReader(label: string, config: string): Promise<Reader> {
    // '' unsets the URL overrides a developer's shell may carry.
    const proc = new CliProcess(['serve', '--config', config, '--listen', '127.0.0.1:0'], {
      SLUICE_SOURCE_URL: '',
      SLUICE_REDIS_URL: '',
      SLUICE_LOG_LEVEL: 'info',
    });
    const address = await vi.waitFor(
      () => {
        const line = proc.logs().find((l) => String(l.msg).startsWith('listening on'));
        if (line === undefined) {
          expect(proc.child.exitCode, `${label} exited:\n${proc.stdout}\n${proc.stderr}`).toBe(
            null,
          );
          throw new Error(`${label} is not listening yet`);
        }
        return String(line.address);
      },
      { timeout: 20_000, interval: 50 },
    );
    const reader = { label, process: proc, base: address };
    readers.push(reader);
    return reader;
  }

  async function get(reader: Reader, id: number): Promise<Answer> {
    const res = await fetch(`${reader.base}/v1/users/${id}`);
    const body = (await res.json()) as { name?: string | null };
    return {
      status: res.status,
      cache: res.headers.get('x-cache') ?? '',
      name: res.status === 200 ? (body.name ?? null) : null,
    };
  }

  /** Resolves when an invalidation message naming `key` arrives (from now on). */
  function invalidationOf(key: string): Promise<void> {
    seen.delete(key);
    return new Promise((resolve) => waiters.set(key, resolve));
  }

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql(`CREATE TABLE users (
      id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255)
    ) ENGINE=InnoDB`);
    await db.sql(`INSERT INTO users VALUES (1, 'ada@x', 'Ada'), (2, 'alan@x', 'Alan')`);
    const rules = { [`${db.name}.users`]: [`${p}:user:{id}`, `${p}:user:email:{email}`] };
    daemon = await startDaemon(rules);

    // The test's own subscriber: the moment a message names a key is the
    // moment after which no reader may serve the old row.
    sub = testRedis();
    sub.on('message', (_channel: string, raw: string) => {
      const msg = JSON.parse(raw) as { keys?: string[] };
      for (const key of msg.keys ?? []) {
        seen.add(key);
        const wake = waiters.get(key);
        if (wake !== undefined) {
          waiters.delete(key);
          wake();
        }
      }
    });
    await sub.subscribe(daemon.channel);

    const config = writeConfig(`
source:
  name: readers-${randomId()}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
database:
  url: ${testEnv.appUrl}/${db.name}
  pool: { connectionLimit: 10, maxIdle: 5 }
redis:
  url: ${testEnv.redisUrl}
invalidation:
  channel: ${daemon.channel}
rules:
  - table: ${db.name}.users
    keys: ["${p}:user:{id}", "${p}:user:email:{email}"]
api:
  resources:
    users: { table: ${db.name}.users, key: "${p}:user:{id}" }
`);
    await Promise.all([startReader('reader A', config), startReader('reader B', config)]);
  }, 60_000);

  afterAll(async () => {
    for (const r of readers) r.process.kill('SIGTERM');
    const exits = await Promise.all(readers.map((r) => r.process.exited));
    sub?.disconnect();
    await (daemon as TestDaemon | undefined)?.stop();
    await (db as TestDb | undefined)?.drop();
    // Both stopped cleanly on SIGTERM.
    expect(exits.map((e) => e.code)).toEqual(readers.map(() => 0));
  });

  /** Reads `id` through `reader` until the answer comes from its L1. */
  async function warmL1(reader: Reader, id: number): Promise<Answer> {
    return vi.waitFor(async () => {
      const a = await get(reader, id);
      expect(a.cache, `${reader.label}: L1 serves only once a daemon heartbeat was seen`).toBe(
        'l1',
      );
      return a;
    }, WAIT);
  }

  /**
   * Warms both L1s with the current answer for `id`, runs `write` while both
   * readers are polled without pause, and checks what the product promises
   * each reader. Not "fresh at the moment the test saw the message": the
   * test's subscriber and each reader's are separate connections, and the
   * test's may be handed the message first. But: after the invalidation is
   * published, each reader answers fresh within a bounded time (its own
   * subscriber evicts its L1 copy); its first fresh answer comes from L2 or
   * the database (the copy was dropped, not served); and from then on it
   * never answers with the old row again (no stale refill of its L1).
   */
  async function writeAndCheck(
    id: number,
    before: (a: Answer) => boolean,
    write: string,
    fresh: (a: Answer) => boolean,
  ): Promise<void> {
    for (const r of readers) expect(before(await warmL1(r, id)), r.label).toBe(true);

    const samples = new Map<string, Answer[]>(readers.map((r) => [r.label, []]));
    let polling = true;
    const poll = async (r: Reader): Promise<void> => {
      const mine = samples.get(r.label) as Answer[];
      while (polling) mine.push(await get(r, id));
    };
    const invalidated = invalidationOf(userKey(id));
    const pollers = readers.map((r) => poll(r));

    await db.sql(write);
    await invalidated;
    // Bounded freshness: each reader answers fresh a few times after the message.
    const countAtMessage = new Map([...samples].map(([label, s]) => [label, s.length]));
    await vi.waitFor(() => {
      for (const r of readers) {
        const after = (samples.get(r.label) as Answer[]).slice(countAtMessage.get(r.label));
        expect(after.filter(fresh).length, r.label).toBeGreaterThanOrEqual(3);
      }
    }, WAIT);
    polling = false;
    await Promise.all(pollers);

    for (const r of readers) {
      const answers = samples.get(r.label) as Answer[];
      // Every answer is the old row or the new one, nothing else (no error).
      const strange = answers.filter((a) => !fresh(a) && !before(a));
      expect(strange, `${r.label}: answers that are neither`).toEqual([]);
      const first = answers.findIndex(fresh);
      expect(answers[first]?.cache, `${r.label}: first fresh answer`).not.toBe('l1');
      const stale = answers.slice(first).filter((a) => !fresh(a));
      expect(stale, `${r.label}: old answers after its first fresh one`).toEqual([]);
    }
  }

  it('an UPDATE reaches both L1s: neither serves the old row after the invalidation', async () => {
    const isName =
      (name: string) =>
      (a: Answer): boolean =>
        a.status === 200 && a.name === name;
    let name = 'Ada';
    for (const round of [1, 2, 3]) {
      const next = `Ada v${round}`;
      await writeAndCheck(
        1,
        isName(name),
        `UPDATE users SET name = '${next}' WHERE id = 1`,
        isName(next),
      );
      name = next;
    }
    // Both refill their L1 with the new row.
    for (const r of readers) expect(await warmL1(r, 1)).toMatchObject({ name: 'Ada v3' });
  });

  it('a cached 404 in both L1s becomes the row after an INSERT, and 404 again after a DELETE', async () => {
    const missing = (a: Answer): boolean => a.status === 404;
    const grace = (a: Answer): boolean => a.status === 200 && a.name === 'Grace';
    await writeAndCheck(3, missing, `INSERT INTO users VALUES (3, 'grace@x', 'Grace')`, grace);
    await writeAndCheck(3, grace, 'DELETE FROM users WHERE id = 3', missing);
  });

  it('a row only one reader had cached is fresh in both (the other reads L2 or the database)', async () => {
    const [a, b] = readers as [Reader, Reader];
    expect(await warmL1(a, 2)).toMatchObject({ name: 'Alan' });
    const invalidated = invalidationOf(userKey(2));
    await db.sql(`UPDATE users SET name = 'Alan T' WHERE id = 2`);
    await invalidated;
    // B had no L1 copy, and the daemon publishes only after Redis acknowledged
    // the delete: B is fresh at once.
    expect(await get(b, 2)).toMatchObject({ status: 200, name: 'Alan T' });
    // A's copy goes when A's own subscriber gets the message.
    await vi.waitFor(
      async () => expect(await get(a, 2)).toMatchObject({ status: 200, name: 'Alan T' }),
      WAIT,
    );
    expect(seen.has(`${p}:user:email:alan@x`)).toBe(true); // the other key of the row, same batch
  });
});
