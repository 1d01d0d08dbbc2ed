import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import type { RowChange, SourceEvent } from '../../src/pipeline/change/RowChange.js';
import { formatPosition, position, type BinlogPosition } from '../../src/pipeline/position.js';
import { describeServer } from '../../src/pipeline/ServerIdentity.js';
import {
  BinlogSource,
  type BinlogSourceOptions,
  type ServerChange,
  type StartPoint,
} from '../../src/pipeline/source/BinlogSource.js';
import { BinlogStream } from '../../src/pipeline/source/BinlogStream.js';
import { locatePrimary } from '../../src/pipeline/source/locatePrimary.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomServerId, testEnv } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
import { ManualClock } from '../helpers/manualClock.js';
import { TcpProxy } from '../helpers/tcpProxy.js';

/**
 * The binlog source in process, against the project's binlog-enabled
 * MariaDB, most of it through a TCP proxy the test can cut, with a manual
 * clock: reconnection from the last boundary, stall detection, backpressure,
 * several hosts, fatal errors and stopping. The chaos suite proves the same
 * rules on the daemon's process (a restarted or stopped server); these run
 * in seconds, and in the mutation suite.
 */

const WAIT = { timeout: 15_000, interval: 20 };
const HEARTBEAT_MS = 1000;
const RETRY_MS = 100;
const SOURCE = new URL(testEnv.sourceUrl);
const SERVER_HOST = `${SOURCE.hostname}:${SOURCE.port}`;

/** The source's URL with `hostPorts` (`host:port`, comma-separated) instead of the server's. */
function urlFor(hostPorts: string): string {
  return `mysql://${SOURCE.username}:${SOURCE.password}@${hostPorts}`;
}

/** Lets what is already due run: callbacks of timers the manual clock fired, their promise chains. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * For what must not happen: the event loop runs for `ms`. A bound, not a
 * wait for a condition: a correct source passes however slow the machine
 * is, and a broken one has long shown itself on loopback.
 */
async function quietFor(ms: number): Promise<void> {
  await new Promise<void>((r) => setTimeout(r, ms));
}

/** A BinlogSource on the manual clock, recording what it hands on and logs. */
class Harness {
  readonly clock = new ManualClock();
  readonly events: SourceEvent[] = [];
  readonly connected: Array<BinlogPosition | null> = [];
  readonly fatal: SluiceError[] = [];
  readonly changes: ServerChange[] = [];
  readonly lines: Array<Record<string, unknown>>;
  readonly source: BinlogSource;

  constructor(
    url: string,
    table: string,
    options: { throwOn?: () => unknown; onServerChanged?: boolean; stopAt?: BinlogPosition } = {},
  ) {
    const { logger, lines } = capturedLogger();
    this.lines = lines;
    const sourceOptions: BinlogSourceOptions = {
      url,
      serverId: randomServerId(),
      heartbeatMs: HEARTBEAT_MS,
      reconnect: { initialDelayMs: RETRY_MS, maxDelayMs: RETRY_MS },
      tables: [table],
      columns: new Map([[table, new Set(['id'])]]),
      logger,
      clock: this.clock,
      ...(options.stopAt === undefined ? {} : { stopAt: options.stopAt }),
    };
    this.source = new BinlogSource(sourceOptions, {
      onEvent: (event) => {
        if (event.type === 'rows' && options.throwOn !== undefined) throw options.throwOn();
        this.events.push(event);
      },
      onConnected: (at) => this.connected.push(at),
      onFatal: (err) => this.fatal.push(err),
      ...(options.onServerChanged === true
        ? { onServerChanged: (change: ServerChange) => this.changes.push(change) }
        : {}),
    });
  }

  /** The ids of the rows handed on, in order. */
  get ids(): unknown[] {
    return this.events.flatMap((e) =>
      e.type === 'rows'
        ? e.changes.map((c: RowChange) => (c.kind === 'delete' ? c.before : c.after).id)
        : [],
    );
  }

  get commits(): string[] {
    return this.events.flatMap((e) => (e.type === 'commit' ? [formatPosition(e.position)] : []));
  }

  /** The log lines with message `msg`. */
  logged(msg: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** The reconnects logged so far: [code, attempt, from]. */
  get retries(): Array<[unknown, unknown, unknown]> {
    return this.logged('binlog connection lost; reconnecting').map((l) => [
      l.code,
      l.attempt,
      l.from,
    ]);
  }

  /** Waits until the commit at `at` was handed on. */
  async committed(at: BinlogPosition): Promise<void> {
    await vi.waitFor(() => expect(this.commits).toContain(formatPosition(at)), WAIT);
  }

  stop(): Promise<void> {
    return this.source.stop();
  }
}

describe('BinlogSource against the server', () => {
  let db: TestDb;
  let table: string;
  let proxy: TcpProxy;
  let harness: Harness | undefined;
  let nextId = 1;

  beforeAll(async () => {
    db = await TestDb.create();
    table = `${db.name}.t`;
    await db.sql('CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR(20))');
    // No ANNOTATE_ROWS events (the server does not send them to zongji): a
    // transaction's binlog bytes are then all sent (see the paused test).
    await db.sql('SET SESSION binlog_annotate_row_events = OFF');
  });

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
    await proxy?.close();
  });

  afterAll(async () => {
    await db.drop();
  });

  /** Inserts one row (its own transaction); its id and the binlog end after it. */
  async function insert(): Promise<{ id: number; at: BinlogPosition }> {
    const id = nextId++;
    await db.sql('INSERT INTO t VALUES (?, ?)', [id, `v${id}`]);
    return { id, at: await db.head() };
  }

  async function viaProxy(): Promise<string> {
    proxy = await TcpProxy.start(SOURCE.hostname, Number(SOURCE.port));
    return `127.0.0.1:${proxy.listenPort}`;
  }

  /** A source through a new proxy, from the binlog's end, that has read one row (`a`): connected. */
  async function streamingOne(): Promise<{
    host: string;
    from: BinlogPosition;
    h: Harness;
    a: { id: number; at: BinlogPosition };
  }> {
    const host = await viaProxy();
    const from = await db.head();
    const h = (harness = new Harness(urlFor(host), table));
    h.source.start({ kind: 'position', position: from });
    const a = await insert();
    await h.committed(a.at);
    return { host, from, h, a };
  }

  it('streams its table from a position: rows, then their commit; connected once, at the start; host and server named', async () => {
    const host = await viaProxy();
    const from = await db.head();
    const h = (harness = new Harness(urlFor(host), table));
    h.source.start({ kind: 'position', position: from });
    const a = await insert();
    await db.sql('CREATE TABLE other (id INT PRIMARY KEY)');
    await db.sql('INSERT INTO other VALUES (1)'); // not a watched table: no rows
    const b = await insert();
    await h.committed(b.at);

    expect(h.ids).toEqual([a.id, b.id]);
    expect(h.commits.at(-1)).toBe(formatPosition(b.at));
    expect(h.source.resumePoint).toMatchObject({ kind: 'position', position: b.at });
    // Connected once, where the server accepted the start point; heartbeats never count.
    expect(h.connected).toEqual([from]);
    expect(h.source.host).toBe(host);
    expect(h.source.server).toEqual(await db.identity());
    // One host is used as it is (no primary probe): zongji's two connections.
    expect(proxy.accepted).toBe(2);
    expect(h.logged('binlog connecting')).toEqual([
      expect.objectContaining({
        component: 'source',
        from: formatPosition(from),
        host,
        attempt: 0,
      }),
    ]);
    expect(h.logged('binlog streaming')).toEqual([
      expect.objectContaining({ component: 'source', at: formatPosition(from) }),
    ]);
    // A position without its server is taken as one of this server, and said so.
    expect(
      h.logged('the resume position names no server: taking it as one of this server'),
    ).toEqual([
      expect.objectContaining({
        server: describeServer(await db.identity()),
        host,
        at: formatPosition(from),
      }),
    ]);
    expect(h.lines.filter((l) => Number(l.level) >= 40)).toEqual([]);
    expect(JSON.stringify(h.lines)).not.toContain(SOURCE.password);
    expect(h.fatal).toEqual([]);
  });

  it('a position that names its server streams without the assumption', async () => {
    const from = await db.head();
    const h = (harness = new Harness(testEnv.sourceUrl, table));
    h.source.start({ kind: 'position', position: from, server: await db.identity() });
    const a = await insert();
    await h.committed(a.at);
    expect(h.ids).toEqual([a.id]);
    expect(h.source.host).toBe(SERVER_HOST);
    expect(
      h.logged('the resume position names no server: taking it as one of this server'),
    ).toEqual([]);
  });

  it('idle: a heartbeat every heartbeatMs (the period is set on the binlog connection)', async () => {
    const h = (harness = new Harness(testEnv.sourceUrl, table));
    h.source.start({ kind: 'end' });
    await vi.waitFor(
      () => expect(h.events.filter((e) => e.type === 'heartbeat').length).toBeGreaterThanOrEqual(2),
      WAIT,
    );
    expect(h.connected).toHaveLength(1);
  });

  it('a cut connection is retried with backoff from the last commit: the rows in between arrive once', async () => {
    const { from, h, a } = await streamingOne();

    await proxy.down();
    await vi.waitFor(() => expect(h.retries).toHaveLength(1), WAIT);
    const b = await insert();
    // Still down: the retry fails and is retried again, once per failure.
    h.clock.advance(RETRY_MS);
    await vi.waitFor(() => expect(h.retries).toHaveLength(2), WAIT);
    await turns();
    expect(h.retries).toEqual([
      ['E_SOURCE_CONNECT', 1, formatPosition(a.at)],
      ['E_SOURCE_CONNECT', 2, formatPosition(a.at)],
    ]);
    expect(h.logged('binlog connecting').map((l) => l.attempt)).toEqual([0, 1]);

    await proxy.up();
    h.clock.advance(RETRY_MS);
    await h.committed(b.at);
    expect(h.ids).toEqual([a.id, b.id]);
    expect(h.connected).toEqual([from, a.at]);
    expect(h.logged('binlog connecting').map((l) => [l.attempt, l.from])).toEqual([
      [0, formatPosition(from)],
      [1, formatPosition(a.at)],
      [2, formatPosition(a.at)],
    ]);
    expect(h.fatal).toEqual([]);

    // Streaming again resets the count: the next failure is attempt 1.
    await proxy.down();
    await vi.waitFor(() => expect(h.retries).toHaveLength(3), WAIT);
    expect(h.retries[2]).toEqual(['E_SOURCE_CONNECT', 1, formatPosition(b.at)]);
  });

  it('several hosts: the first that answers as a primary is streamed; none answering is retried, naming each host', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const host = await viaProxy();
    await proxy.down();
    const from = await db.head();
    const h = (harness = new Harness(urlFor(`${dead},${host}`), table));
    h.source.start({ kind: 'position', position: from });
    await vi.waitFor(() => expect(h.retries).toHaveLength(1), WAIT);
    const [retry] = h.logged('binlog connection lost; reconnecting');
    expect(retry).toMatchObject({
      code: 'E_SOURCE_CONNECT',
      attempt: 1,
      from: formatPosition(from),
    });
    expect(String(retry?.err)).toMatch(
      new RegExp(
        `^no primary among the source hosts: ${dead} cannot connect .*; ${host} cannot connect`,
      ),
    );
    expect(h.source.host).toBe('');
    expect(JSON.stringify(h.lines)).not.toContain(SOURCE.password);

    await proxy.up();
    h.clock.advance(RETRY_MS);
    const a = await insert();
    await h.committed(a.at);
    expect(h.ids).toEqual([a.id]);
    expect(h.source.host).toBe(host);
    expect(h.connected).toEqual([from]);
    expect(h.retries).toHaveLength(1);
  });

  it('stopped while the primary is looked for: the host found is not opened', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const host = await viaProxy();
    const h = (harness = new Harness(urlFor(`${dead},${host}`), table));
    h.source.start({ kind: 'end' });
    await h.stop();
    // The probe of the second host ran (and closed), and nothing followed it.
    await vi.waitFor(() => expect(proxy.accepted).toBe(1), WAIT);
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);
    await quietFor(300);
    expect(proxy.accepted).toBe(1);
    expect(h.logged('binlog connecting')).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });

  it('silent for more than 3 heartbeat periods: a stall; that connection is closed and a new one resumes from the last commit', async () => {
    const { from, h, a } = await streamingOne();
    expect(proxy.connections).toBe(2);

    // The clock moves, nothing arrives in between: checks at 1 s (the events
    // before count), 2, 3, 4 s (3 s of silence, not more) and 5 s (4 s).
    h.clock.advance(4 * HEARTBEAT_MS);
    expect(h.retries).toEqual([]);
    h.clock.advance(HEARTBEAT_MS);
    expect(h.retries).toEqual([['E_SOURCE_STALLED', 1, formatPosition(a.at)]]);
    expect(h.logged('binlog connection lost; reconnecting')[0]?.err).toBe(
      'no binlog event or heartbeat for 4000 ms (3 periods = 3000 ms)',
    );
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);

    const b = await insert();
    h.clock.advance(RETRY_MS);
    await h.committed(b.at);
    expect(h.ids).toEqual([a.id, b.id]);
    expect(proxy.accepted).toBe(4);
    expect(h.connected).toEqual([from, a.at]);
  });

  it('paused: nothing is read and silence is no stall; resumed: the rows follow', async () => {
    const { h, a } = await streamingOne();

    h.source.pause();
    h.source.pause(); // idempotent
    expect(h.source.isPaused).toBe(true);
    const sent = proxy.bytesToClients;
    const b = await insert();
    // The server sent the transaction, and it reached the source's socket:
    // every event of it, each framed in 5 more bytes than the binlog holds.
    await vi.waitFor(
      () => expect(proxy.bytesToClients - sent).toBeGreaterThanOrEqual(b.at.pos - a.at.pos),
      WAIT,
    );
    await quietFor(300);
    h.clock.advance(10 * HEARTBEAT_MS);
    expect(h.ids).toEqual([a.id]);
    expect(h.retries).toEqual([]);

    h.source.resume();
    h.source.resume(); // idempotent
    expect(h.source.isPaused).toBe(false);
    expect(h.lines.filter((l) => String(l.msg).startsWith('binlog ')).map((l) => l.msg)).toEqual([
      'binlog connecting',
      'binlog streaming',
      'binlog paused (backpressure)',
      'binlog resumed',
    ]);
    await h.committed(b.at);
    expect(h.ids).toEqual([a.id, b.id]);
    // Reading again: silence counts again.
    h.clock.advance(5 * HEARTBEAT_MS);
    expect(h.retries.map(([code]) => code)).toEqual(['E_SOURCE_STALLED']);
  });

  it('paused before the connection is checked: the check runs, then nothing is read until resumed', async () => {
    const host = await viaProxy();
    const from = await db.head();
    const h = (harness = new Harness(urlFor(host), table));
    h.source.start({ kind: 'position', position: from });
    h.source.pause(); // connecting: the handshake and the server check go on
    await vi.waitFor(
      () => expect(h.source.server).toEqual(expect.objectContaining({ kind: 'mariadb' })),
      WAIT,
    );
    const a = await insert();
    await quietFor(300);
    expect(h.events).toEqual([]);
    h.source.resume();
    await h.committed(a.at);
    expect(h.ids).toEqual([a.id]);
    expect(h.connected).toEqual([from]);
  });

  it('paused across a reconnect: the new connection stays paused until resumed', async () => {
    const { h, a } = await streamingOne();

    await proxy.down();
    await vi.waitFor(() => expect(h.retries).toHaveLength(1), WAIT);
    h.source.pause(); // between two connections
    await proxy.up();
    const b = await insert();
    h.clock.advance(RETRY_MS);
    // Connected again (zongji's two connections), and nothing read.
    await vi.waitFor(() => expect(proxy.accepted).toBe(4), WAIT);
    await quietFor(300);
    h.clock.advance(10 * HEARTBEAT_MS);
    expect(h.ids).toEqual([a.id]);
    expect(h.retries).toHaveLength(1);

    h.source.resume();
    await h.committed(b.at);
    expect(h.ids).toEqual([a.id, b.id]);

    // Paused, cut, and resumed between two connections: the next one reads.
    h.source.pause();
    await proxy.down();
    await vi.waitFor(() => expect(h.retries).toHaveLength(2), WAIT);
    h.source.resume();
    await proxy.up();
    h.clock.advance(RETRY_MS);
    const c = await insert();
    await h.committed(c.at);
    expect(h.ids).toEqual([a.id, b.id, c.id]);
  });

  it("paused while zongji's own setup lags the server check: the dump starts once resumed", async () => {
    const { h, a } = await streamingOne();

    await proxy.down();
    await vi.waitFor(() => expect(h.retries).toHaveLength(1), WAIT);
    h.source.pause();
    // The reconnect's control connection (zongji's setup queries) answers
    // slowly: the source checks the server on the binlog connection, and
    // pauses it, before zongji adds its dump command there.
    proxy.slowDown(3, 150);
    await proxy.up();
    const b = await insert();
    h.clock.advance(RETRY_MS);
    await vi.waitFor(() => expect(proxy.accepted).toBe(4), WAIT);
    await vi.waitFor(() => expect(h.logged('binlog connecting')).toHaveLength(2), WAIT);
    await quietFor(1000); // zongji's setup done meanwhile, its dump command added
    expect(h.ids).toEqual([a.id]);

    h.source.resume();
    await h.committed(b.at);
    expect(h.ids).toEqual([a.id, b.id]);
    expect(h.retries).toHaveLength(1); // no stall, no reconnect needed
  });

  it('a position the server no longer has is fatal (E_POSITION_LOST): no retry, the connection closed', async () => {
    const host = await viaProxy();
    const head = await db.head();
    const gone = position(
      head.file.replace(/\d+$/, (n) => String(Number(n) + 1000).padStart(n.length, '0')),
      4,
    );
    const h = (harness = new Harness(urlFor(host), table));
    h.source.start({ kind: 'position', position: gone });
    await vi.waitFor(() => expect(h.fatal).toHaveLength(1), WAIT);
    expect(h.fatal[0]).toMatchObject({
      code: 'E_POSITION_LOST',
      details: { from: formatPosition(gone), errno: 1236 },
    });
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);
    h.clock.advance(10 * RETRY_MS);
    await turns();
    expect(h.retries).toEqual([]);
    expect(h.connected).toEqual([]);
    expect(h.fatal).toHaveLength(1);
    expect(h.clock.pending).toBe(0);
  });

  it('a handler that throws ends the source: E_INTERNAL with the cause; a SluiceError as it is', async () => {
    const from = await db.head();
    const boom = new Error('boom');
    const h = (harness = new Harness(testEnv.sourceUrl, table, { throwOn: () => boom }));
    h.source.start({ kind: 'position', position: from });
    await insert();
    await vi.waitFor(() => expect(h.fatal).toHaveLength(1), WAIT);
    expect(h.fatal[0]).toMatchObject({
      code: 'E_INTERNAL',
      message: 'binlog event handler failed: Error: boom',
      cause: boom,
    });
    expect(h.clock.pending).toBe(0);
    await h.stop();

    const own = new SluiceError('E_TEMPLATE_COLUMN', 'a row without the column');
    const h2 = (harness = new Harness(testEnv.sourceUrl, table, { throwOn: () => own }));
    h2.source.start({ kind: 'position', position: from });
    await vi.waitFor(() => expect(h2.fatal).toHaveLength(1), WAIT);
    expect(h2.fatal[0]).toBe(own);
  });

  it('another server than the position names: onServerChanged (host, reason), or E_SOURCE_CHANGED without it; nothing streamed', async () => {
    const host = await viaProxy();
    const from = await db.head();
    const me = await db.identity();
    const other = { ...me, serverId: me.serverId + 1000 };
    const start: StartPoint = { kind: 'position', position: from, server: other };
    await insert();

    const h = (harness = new Harness(urlFor(host), table, { onServerChanged: true }));
    h.source.start(start);
    await vi.waitFor(() => expect(h.changes).toHaveLength(1), WAIT);
    expect(h.changes[0]).toMatchObject({
      from: start,
      host,
      reason: 'identity',
      now: { identity: me },
    });
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);
    expect(h.events).toEqual([]);
    expect(h.fatal).toEqual([]);
    expect(h.clock.pending).toBe(0);
    await h.stop();

    const h2 = (harness = new Harness(urlFor(host), table));
    h2.source.start(start);
    await vi.waitFor(() => expect(h2.fatal).toHaveLength(1), WAIT);
    expect(h2.fatal[0]?.code).toBe('E_SOURCE_CHANGED');
    expect(h2.fatal[0]?.message).toBe(
      `${host} is ${describeServer(me)}, not ${describeServer(other)} where ${formatPosition(from)} belongs`,
    );
    expect(h2.events).toEqual([]);
  });

  it('stopAt: the commit at it is the last event, and the connection is closed', async () => {
    const host = await viaProxy();
    const from = await db.head();
    const a = await insert();
    await insert(); // past stopAt: never handed on
    const h = (harness = new Harness(urlFor(host), table, { stopAt: a.at }));
    h.source.start({ kind: 'position', position: from });
    await h.committed(a.at);
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);
    expect(h.ids).toEqual([a.id]);
    expect(h.commits).toEqual([formatPosition(a.at)]);
    // Done: no stall check or retry is left to wake it.
    expect(h.clock.pending).toBe(0);
    h.clock.advance(10 * HEARTBEAT_MS);
    expect(h.retries).toEqual([]);
  });

  it('stop(): the connection closed, no timer left, nothing handed on after it', async () => {
    const { h } = await streamingOne();
    await h.stop();
    await h.stop(); // idempotent
    await vi.waitFor(() => expect(proxy.connections).toBe(0), WAIT);
    expect(h.clock.pending).toBe(0);
    // Nothing is left to read from, or to open another connection.
    const count = h.events.length;
    await insert();
    h.clock.advance(10 * HEARTBEAT_MS);
    await turns();
    expect([proxy.accepted, proxy.connections]).toEqual([2, 0]);
    expect(h.events).toHaveLength(count);
    expect(h.retries).toEqual([]);
  });
});

describe('BinlogStream: one source at a time', () => {
  let db: TestDb;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE t (id INT PRIMARY KEY)');
  });

  afterAll(async () => {
    await db.drop();
  });

  it('active once started; the server in use named; paused and resumed; stop keeps it, drop forgets it', async () => {
    const table = `${db.name}.t`;
    const events: SourceEvent[] = [];
    const stream = new BinlogStream(
      {
        url: testEnv.sourceUrl,
        serverId: randomServerId(),
        heartbeatMs: HEARTBEAT_MS,
        reconnect: { initialDelayMs: RETRY_MS, maxDelayMs: RETRY_MS },
      },
      { tables: [table], decodeColumns: () => new Map([[table, new Set(['id'])]]) },
      pino({ level: 'silent' }),
      { onEvent: (e) => events.push(e), onFatal: (err) => expect.fail(err.message) },
    );
    expect([stream.active, stream.paused, stream.serverInUse]).toEqual([false, false, null]);
    stream.pause();
    stream.resume();
    expect(stream.stop()).toBeUndefined();
    expect(stream.drop()).toBeUndefined();

    stream.start({ kind: 'end' });
    expect(stream.active).toBe(true);
    const named = `${describeServer(await db.identity())} at ${SERVER_HOST}`;
    await vi.waitFor(() => expect(stream.serverInUse).toBe(named), WAIT);
    stream.pause();
    expect(stream.paused).toBe(true);
    stream.resume();
    expect(stream.paused).toBe(false);
    await db.sql('INSERT INTO t VALUES (1)');
    await vi.waitFor(() => expect(events.some((e) => e.type === 'rows')).toBe(true), WAIT);

    await stream.stop();
    expect([stream.active, stream.serverInUse]).toEqual([true, named]);
    stream.start({ kind: 'end' }); // a fresh source
    await stream.drop();
    expect([stream.active, stream.paused, stream.serverInUse]).toEqual([false, false, null]);
  });
});

describe('locatePrimary: the first host that answers as a primary', () => {
  let silent: Server;
  let silentHost: string;
  const held = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections and never greets: a host that does not answer
    // (mysql2's connect timeout, the same bound, reports it first).
    silent = createServer((socket) => void held.add(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const address = silent.address();
    silentHost = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('skips hosts that refuse or do not answer, in order', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const urls = [urlFor(dead), urlFor(silentHost), testEnv.sourceUrl];
    await expect(locatePrimary(urls, 200)).resolves.toBe(testEnv.sourceUrl);
  });

  it('none: E_SOURCE_CONNECT naming what each host answered', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const err = await locatePrimary([urlFor(dead), urlFor(silentHost)], 200).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'E_SOURCE_CONNECT', details: { hosts: [dead, silentHost] } });
    expect((err as Error).message).toMatch(
      new RegExp(
        `^no primary among the source hosts: ${dead} cannot connect \\(.*ECONNREFUSED.*\\); ` +
          `${silentHost} cannot connect \\(connect ETIMEDOUT\\)$`,
      ),
    );
  });
});
