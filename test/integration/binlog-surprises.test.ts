import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';
import { TestDb } from '../helpers/db.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomId } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
import { checkpointText, plant, survivors, testRedis } from '../helpers/redis.js';

/** What real binlogs contain besides tidy InnoDB rows, and awkward key text. */
describe('binlog surprises and awkward keys', () => {
  let db: TestDb;
  let redis: Redis;
  let daemon: TestDaemon | undefined;

  beforeAll(async () => {
    db = await TestDb.create();
    redis = testRedis();
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
  });
  afterAll(async () => {
    await db.drop();
    redis.disconnect();
  });

  /**
   * XA transaction `xid` runs `statement` and is prepared (not committed) on
   * `session`, which then runs nothing else until the XA ends (a session
   * holds its prepared XA).
   */
  const prepareXa = async (session: Connection, xid: string, statement: string): Promise<void> => {
    await session.query(`XA START '${xid}'`);
    await session.query(statement);
    await session.query(`XA END '${xid}'`);
    await session.query(`XA PREPARE '${xid}'`);
  };

  /**
   * Runs `body` with a session of its own for XA `xid` (ordinary transactions
   * go on beside it on the test session). The XA is rolled back afterwards if
   * still prepared (it would block the database's drop), and the session ends.
   */
  const withXaSession = async (
    xid: string,
    body: (session: Connection) => Promise<void>,
  ): Promise<void> => {
    const session = await db.session();
    try {
      await body(session);
    } finally {
      await session.query(`XA ROLLBACK '${xid}'`).catch(() => undefined); // ended: XAER_NOTA
      await session.end();
    }
  };

  /** Plants `keys`, runs `statement`, and waits until the daemon has deleted them. */
  const deletedBy = async (keys: string[], statement: string): Promise<void> => {
    await plant(redis, keys);
    await db.sql(statement);
    await vi.waitFor(async () => expect(await survivors(redis, keys)).toEqual([]));
  };

  /** An xid as the server logs it: gtrid in hex, empty bqual, format 1. */
  const canonical = (xid: string): string => `X'${Buffer.from(xid).toString('hex')}',X'',1`;

  /** The xids of the captured log lines whose message starts with `msg`. */
  const warnedXids = (lines: ReadonlyArray<Record<string, unknown>>, msg: string): unknown[] =>
    lines.filter((l) => String(l.msg).startsWith(msg)).map((l) => l.xid);

  it('a table without a primary key, an Aria and a MyISAM table: keys deleted, checkpoint at the COMMIT', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE nopk (a INT, b VARCHAR(10)) ENGINE=InnoDB');
    await db.sql('CREATE TABLE aria (id INT PRIMARY KEY, v INT) ENGINE=Aria');
    await db.sql('CREATE TABLE myisam (id INT PRIMARY KEY, v INT) ENGINE=MyISAM');
    daemon = await startDaemon({
      [`${db.name}.nopk`]: [`${p}:np:{a}:{b}`],
      [`${db.name}.aria`]: [`${p}:ar:{id}`],
      [`${db.name}.myisam`]: [`${p}:my:{id}`],
    });
    const gone = await plant(redis, [`${p}:np:1:x`, `${p}:np:1:y`, `${p}:ar:1`, `${p}:my:1`]);
    await db.sql("INSERT INTO nopk VALUES (1, 'x')");
    await db.sql("UPDATE nopk SET b = 'y' WHERE a = 1");
    await db.sql('INSERT INTO aria VALUES (1, 1)');
    await db.sql('INSERT INTO myisam VALUES (1, 1)');
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]));
    const head = await db.headText();
    await vi.waitFor(async () =>
      expect(await checkpointText(redis, daemon?.source ?? '')).toBe(head),
    );
  });

  it('an XA transaction (its rows end with XA END and XA PREPARE, no XID): keys deleted at its XA END, with no commit or heartbeat behind it', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa VALUES (1, 1)');
    // The server's heartbeat (which seals keys waiting for an end the source
    // does not know) comes after 60 s of silence: far beyond this test.
    daemon = await startDaemon(
      { [`${db.name}.xa`]: [`${p}:xa:{id}`] },
      { source: { heartbeatMs: 60_000 } },
    );
    const gone = await plant(redis, [`${p}:xa:1`]);
    const kept = await plant(redis, [`${p}:xa:2`]);
    const xid = `x${randomId()}`;
    await withXaSession(xid, async (xa) => {
      await prepareXa(xa, xid, 'UPDATE xa SET v = 2 WHERE id = 1');
      // No other transaction follows.
      await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]), {
        timeout: 5000,
      });
      expect(await survivors(redis, kept)).toEqual(kept);
    });
  });

  it('an XA transaction: a key refilled between XA PREPARE and XA COMMIT is deleted again at XA COMMIT; after XA ROLLBACK it is not', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa2 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa2 VALUES (1, 1), (2, 1), (3, 1)');
    daemon = await startDaemon({ [`${db.name}.xa2`]: [`${p}:xa:{id}`] });
    const [one, two, three] = [`${p}:xa:1`, `${p}:xa:2`, `${p}:xa:3`];
    const committed = `c${randomId()}`;
    const rolledBack = `r${randomId()}`;
    await plant(redis, [one, two]);
    // An ordinary transaction first: its key, refilled after its commit, is fresh.
    await deletedBy([three], 'UPDATE xa2 SET v = 2 WHERE id = 3');
    await plant(redis, [three]);
    await withXaSession(committed, async (xa) => {
      await prepareXa(xa, committed, 'UPDATE xa2 SET v = 2 WHERE id = 1');
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      await plant(redis, [one]); // a reader refills it from the row as it was: not committed yet
      await xa.query(`XA COMMIT '${committed}'`);
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      expect(await survivors(redis, [three])).toEqual([three]); // exactly the XA's keys again
    });
    await withXaSession(rolledBack, async (xa) => {
      await prepareXa(xa, rolledBack, 'UPDATE xa2 SET v = 2 WHERE id = 2');
      await vi.waitFor(async () => expect(await survivors(redis, [two])).toEqual([]));
      await plant(redis, [two]);
      await xa.query(`XA ROLLBACK '${rolledBack}'`);
      // A later transaction's key gone: the daemon has read past the rollback.
      await deletedBy([three], 'UPDATE xa2 SET v = 4 WHERE id = 3');
      expect(await survivors(redis, [two])).toEqual([two]);
    });
  });

  it('an XA prepared before the daemon started: its XA COMMIT logs a warning naming the xid, and the daemon goes on', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa3 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa3 VALUES (1, 1), (2, 1)');
    const xid = `u${randomId()}`;
    await withXaSession(xid, async (xa) => {
      await prepareXa(xa, xid, 'UPDATE xa3 SET v = 2 WHERE id = 1');
      const { logger, lines } = capturedLogger('warn');
      daemon = await startDaemon({ [`${db.name}.xa3`]: [`${p}:xa:{id}`] }, { logger });
      await xa.query(`XA COMMIT '${xid}'`);
      await deletedBy([`${p}:xa:2`], 'UPDATE xa3 SET v = 2 WHERE id = 2');
      expect(warnedXids(lines, 'XA COMMIT of a transaction whose keys')).toEqual([canonical(xid)]);
    });
  });

  it('an XA prepared when the daemon restarts: the checkpoint stayed before its rows, so the restarted daemon deletes a refilled key again at its XA COMMIT', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa4 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa4 VALUES (1, 1), (2, 1)');
    await db.sql('CREATE TABLE xa4b (id INT PRIMARY KEY) ENGINE=InnoDB');
    const rules = { [`${db.name}.xa4`]: [`${p}:xa:{id}`], [`${db.name}.xa4b`]: [`${p}:b:{id}`] };
    const [one, two] = [`${p}:xa:1`, `${p}:xa:2`];
    daemon = await startDaemon(rules);
    const { source, invalidator } = daemon;
    /** Stops the daemon; the checkpoint it left. */
    const stopped = async (): Promise<string | null> => {
      await daemon?.stop();
      daemon = undefined;
      return checkpointText(redis, source);
    };
    /** A reader refills the XA's key while no daemon runs; a daemon started from the checkpoint reads the XA's rows again and deletes it. */
    const restart = async (): Promise<TestDaemon> => {
      await plant(redis, [one]);
      const started = (daemon = await startDaemon(rules, {
        startFrom: 'checkpoint',
        source: { name: source },
      }));
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      return started;
    };
    const xid = `h${randomId()}`;
    await withXaSession(xid, async (xa) => {
      // An ordinary transaction: its commit is the last boundary before the XA.
      await deletedBy([two], 'UPDATE xa4 SET v = 2 WHERE id = 2');
      const beforeXa = await db.headText();
      await prepareXa(xa, xid, 'UPDATE xa4 SET v = 2 WHERE id = 1');
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      // A later transaction, read and acknowledged, does not move the checkpoint past the XA;
      // nor does a DDL statement (a TRUNCATE of a mapped table: its key space flushed).
      await deletedBy([two], 'UPDATE xa4 SET v = 3 WHERE id = 2');
      await deletedBy([`${p}:b:1`], 'TRUNCATE TABLE xa4b');
      // What the metrics show (sluice_daemon_xa_prepared, sluice_daemon_checkpoint_held).
      expect([invalidator.preparedXaCount, invalidator.checkpointHeld]).toEqual([1, true]);
      expect(await stopped()).toBe(beforeXa);

      // Restarted once more before the XA COMMIT: read again, the XA holds the checkpoint again.
      await restart();
      await deletedBy([two], 'UPDATE xa4 SET v = 4 WHERE id = 2');
      expect(await stopped()).toBe(beforeXa);

      const last = await restart();
      // Then a reader refills it before the XA COMMIT, as in the test above.
      await plant(redis, [one]);
      await xa.query(`XA COMMIT '${xid}'`);
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      // Committed: the next boundary moves the checkpoint past the XA again.
      await deletedBy([two], 'UPDATE xa4 SET v = 5 WHERE id = 2');
      expect([last.invalidator.preparedXaCount, last.invalidator.checkpointHeld]).toEqual([
        0,
        false,
      ]);
      const head = await db.headText();
      expect(await stopped()).toBe(head);
    });
  });

  it('a prepared XA holds the checkpoint for at most 60 s of binlog time: a commit 61 s after its XA END moves it on, with a warning naming the xid', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa5 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa5 VALUES (1, 1), (2, 1)');
    const { logger, lines } = capturedLogger('warn');
    daemon = await startDaemon({ [`${db.name}.xa5`]: [`${p}:xa:{id}`] }, { logger });
    const { source, invalidator } = daemon;
    const [one, two] = [`${p}:xa:1`, `${p}:xa:2`];
    const xid = `t${randomId()}`;
    await withXaSession(xid, async (xa) => {
      // A boundary before the XA (started at the binlog's end, the daemon knows none yet).
      await deletedBy([two], 'UPDATE xa5 SET v = 3 WHERE id = 2');
      await prepareXa(xa, xid, 'UPDATE xa5 SET v = 2 WHERE id = 1');
      await vi.waitFor(async () => expect(await survivors(redis, [one])).toEqual([]));
      // The server stamps this transaction's events 61 s after the XA END's.
      await db.sql('SET timestamp = UNIX_TIMESTAMP() + 61');
      try {
        await deletedBy([two], 'UPDATE xa5 SET v = 2 WHERE id = 2');
      } finally {
        await db.sql('SET timestamp = DEFAULT');
      }
      // Still prepared, no longer holding.
      expect([invalidator.preparedXaCount, invalidator.checkpointHeld]).toEqual([1, false]);
      const head = await db.headText();
      await daemon?.stop();
      daemon = undefined;
      expect(await checkpointText(redis, source)).toBe(head);
      expect(warnedXids(lines, 'XA transaction prepared for too long')).toEqual([canonical(xid)]);
      const held = lines.find((l) =>
        String(l.msg).startsWith('XA transaction prepared for too long'),
      );
      expect(held?.heldMs).toBeGreaterThan(60_000);
    });
  });

  it("an XA read first after a start at the binlog's end holds nothing (no boundary is known before it): the next commit moves the checkpoint", async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE xa6 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB');
    await db.sql('INSERT INTO xa6 VALUES (1, 1), (2, 1)');
    daemon = await startDaemon({ [`${db.name}.xa6`]: [`${p}:xa:{id}`] });
    const { source, invalidator } = daemon;
    const xid = `e${randomId()}`;
    await withXaSession(xid, async (xa) => {
      await prepareXa(xa, xid, 'UPDATE xa6 SET v = 2 WHERE id = 1');
      await vi.waitFor(async () => expect(await survivors(redis, [`${p}:xa:1`])).toEqual([]));
      await deletedBy([`${p}:xa:2`], 'UPDATE xa6 SET v = 2 WHERE id = 2');
      expect([invalidator.preparedXaCount, invalidator.checkpointHeld]).toEqual([1, false]);
      const head = await db.headText();
      await daemon?.stop();
      daemon = undefined;
      expect(await checkpointText(redis, source)).toBe(head);
    });
  });

  it('a 20 MB row is decoded and its key deleted', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE big (id INT PRIMARY KEY, body LONGTEXT) ENGINE=InnoDB');
    daemon = await startDaemon({ [`${db.name}.big`]: [`${p}:big:{id}`] });
    const gone = await plant(redis, [`${p}:big:1`]);
    await db.sql("INSERT INTO big VALUES (1, REPEAT('x', 20 * 1024 * 1024))");
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]), {
      timeout: 20_000,
    });
  });

  it('ENUM and SET values with commas and quotes render exactly (FULL row metadata)', async () => {
    const p = `s${randomId()}`;
    await db.sql(
      "CREATE TABLE en (id INT PRIMARY KEY, kind ENUM('a,b', 'c''d', 'plain')) ENGINE=InnoDB",
    );
    daemon = await startDaemon({ [`${db.name}.en`]: [`${p}:kind:{kind}`] });
    const gone = await plant(redis, [`${p}:kind:a,b`, `${p}:kind:c'd`]);
    const kept = await plant(redis, [`${p}:kind:plain`]);
    await db.sql("INSERT INTO en VALUES (1, 'a,b'), (2, 'c''d')");
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]));
    expect(await survivors(redis, kept)).toEqual(kept);
  });

  it('values with glob characters, braces, colons, spaces and 10 KB text delete exactly their key', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE odd (id INT PRIMARY KEY, name TEXT) ENGINE=InnoDB');
    daemon = await startDaemon({ [`${db.name}.odd`]: [`${p}:n:{name}`] });
    const long = 'z'.repeat(10 * 1024);
    const names = ['a*b', 'a?b', 'a[bc]d', '{tag}', 'x}y{', 'a:b:c', 'with space', '\\*', long];
    const gone = await plant(
      redis,
      names.map((n) => `${p}:n:${n}`),
    );
    // Keys a glob reading of those names would match: they must survive.
    const kept = await plant(redis, [`${p}:n:aXb`, `${p}:n:abd`, `${p}:n:a:b:d`, `${p}:n:*`]);
    for (const [i, n] of names.entries()) await db.sql('INSERT INTO odd VALUES (?, ?)', [i, n]);
    await vi.waitFor(async () => expect(await survivors(redis, gone)).toEqual([]));
    expect(await survivors(redis, kept)).toEqual(kept);
  });

  it('DDL on unmapped tables and in other databases changes nothing and moves the checkpoint', async () => {
    const p = `s${randomId()}`;
    await db.sql('CREATE TABLE mapped (id INT PRIMARY KEY) ENGINE=InnoDB');
    daemon = await startDaemon({ [`${db.name}.mapped`]: [`${p}:m:{id}`] });
    const kept = await plant(redis, [`${p}:m:1`]);
    await db.sql('CREATE TABLE unmapped (id INT PRIMARY KEY)');
    await db.sql('ALTER TABLE unmapped ADD COLUMN v INT');
    await db.sql('TRUNCATE TABLE unmapped');
    await db.sql('DROP TABLE unmapped');
    const head = await db.headText();
    await vi.waitFor(async () =>
      expect(await checkpointText(redis, daemon?.source ?? '')).toBe(head),
    );
    expect(await survivors(redis, kept)).toEqual(kept);
    expect(daemon.invalidator.sinkStats.patternKeys).toBe(0);
  });
});
