import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  PrimaryWatch,
  probePrimary,
  type PrimaryChange,
  type PrimaryIdentity,
} from '../../src/pipeline/checkpoint/PrimaryWatch.js';
import { capturedLogger } from '../helpers/logs.js';
import { ManualClock } from '../helpers/manualClock.js';

const primary = (runId: string, replid = 'r1'): PrimaryIdentity => ({
  role: 'master',
  runId,
  replid,
});
const replica = (runId: string): PrimaryIdentity => ({ role: 'slave', runId, replid: 'r1' });

/** Lets pending promise chains run (a macrotask drains every microtask). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(first: PrimaryIdentity | Error) {
  const clock = new ManualClock();
  const connection = new EventEmitter();
  const changes: PrimaryChange[] = [];
  const { logger, lines: logs } = capturedLogger();
  const server: {
    answer: PrimaryIdentity | Error;
    /** Answers given before `answer` (e.g. one that hangs). */
    pending: Array<Promise<PrimaryIdentity>>;
    probes: number;
  } = { answer: first, pending: [], probes: 0 };
  const watch = new PrimaryWatch({
    probe: () => {
      server.probes++;
      const next = server.pending.shift();
      if (next !== undefined) return next;
      const a = server.answer;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    connection,
    pollMs: 1000,
    clock,
    logger,
    onChange: (c) => changes.push(c),
  });
  return { clock, connection, changes, server, watch, logs };
}

describe('PrimaryWatch', () => {
  it('takes the first primary as the expected one; the same server again is no change', async () => {
    const { watch, connection, changes, server } = setup(primary('a'));
    await watch.start();
    expect(watch.expected).toBe('a:r1');
    connection.emit('ready');
    await settle();
    expect(server.probes).toBe(2);
    expect(changes).toEqual([]);
    watch.stop();
  });

  it('a reconnection to another server (new run id) is reported once, until adopted', async () => {
    const { watch, connection, changes, server, logs } = setup(primary('a'));
    await watch.start();
    server.answer = primary('b', 'r2');
    connection.emit('ready');
    await settle();
    connection.emit('ready');
    await settle();
    expect(changes).toEqual([{ from: primary('a'), to: primary('b', 'r2'), reason: 'ready' }]);
    expect(logs.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({
        component: 'primary-watch',
        code: 'E_REDIS_PRIMARY_CHANGED',
        from: 'a:r1',
        to: 'b:r2',
        reason: 'ready',
        msg: 'redis primary changed',
      }),
    ]);
    // Until the policy adopts it, writes still carry the old identity (and are refused).
    expect(watch.expected).toBe('a:r1');
    expect(await watch.adopt()).toEqual(primary('b', 'r2'));
    expect(watch.expected).toBe('b:r2');
    connection.emit('ready');
    await settle();
    expect(changes).toHaveLength(1);
    watch.stop();
  });

  it('the poll finds a new dataset on the same server (replication id: promoted, or resynced)', async () => {
    const { watch, clock, changes, server } = setup(primary('a'));
    await watch.start();
    clock.advance(1000);
    await settle();
    expect(changes).toEqual([]);
    server.answer = primary('a', 'r2');
    clock.advance(999);
    await settle();
    expect(changes).toEqual([]);
    clock.advance(1);
    await settle();
    expect(changes).toEqual([{ from: primary('a'), to: primary('a', 'r2'), reason: 'poll' }]);
    watch.stop();
  });

  it('a replica is never taken for the primary: not reported, not adoptable', async () => {
    const { watch, connection, changes, server, logs } = setup(primary('a'));
    await watch.start();
    server.answer = replica('b');
    connection.emit('ready');
    await settle();
    expect(changes).toEqual([]);
    expect(logs.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({
        role: 'slave',
        reason: 'ready',
        msg: 'redis answers as a replica; waiting for a primary',
      }),
    ]);
    await expect(watch.adopt()).rejects.toMatchObject({
      code: 'E_REDIS',
      message: 'redis answers as a slave, not a primary',
    });
    expect(watch.expected).toBe('a:r1');
    watch.stop();
  });

  it('Redis unreachable at start: the first answer later is taken as the primary, not as a change', async () => {
    const { watch, connection, changes, server } = setup(new Error('ECONNREFUSED'));
    await watch.start();
    expect(watch.expected).toBe(null);
    connection.emit('ready');
    await settle();
    expect(watch.expected).toBe(null);
    server.answer = primary('a');
    connection.emit('ready');
    await settle();
    expect(watch.expected).toBe('a:r1');
    expect(changes).toEqual([]);
    watch.stop();
  });

  it('a check asked for while one runs runs once more after it (a reconnection is never missed)', async () => {
    const { watch, changes, server } = setup(primary('a'));
    await watch.start();
    // The next probe hangs (the old connection); the server changes meanwhile.
    let release!: () => void;
    server.pending.push(new Promise((r) => (release = () => r(primary('a')))));
    server.answer = primary('b', 'r2');
    const first = watch.check('ready');
    void watch.check('ready');
    void watch.check('ready');
    release();
    await first;
    await settle();
    expect(server.probes).toBe(3); // start, the hanging one, one more for the two asked meanwhile
    expect(changes.map((c) => c.to)).toEqual([primary('b', 'r2')]);
    watch.stop();
  });

  it('stop ends the polling and the reconnection checks', async () => {
    const { watch, clock, connection, server } = setup(primary('a'));
    await watch.start();
    watch.stop();
    clock.advance(5000);
    connection.emit('ready');
    await settle();
    expect(server.probes).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('an answer that arrives after stop is not reported (the daemon is shutting down)', async () => {
    const { watch, connection, changes, server, logs } = setup(primary('a'));
    await watch.start();
    let answer!: (id: PrimaryIdentity) => void;
    server.pending.push(new Promise((r) => (answer = r)));
    connection.emit('ready');
    await settle();
    expect(server.probes).toBe(2); // asked, not answered yet
    watch.stop();
    answer(primary('b', 'r2'));
    await settle();
    expect(changes).toEqual([]);
    expect(logs.filter((l) => l.level === 40)).toEqual([]);
  });
});

describe('probePrimary', () => {
  /** A client whose primary-identity script answers `reply`. */
  const answering = (reply: unknown): Redis =>
    ({ eval: () => Promise.resolve(reply) }) as unknown as Redis;

  it('reads role, run id and replication id from the script reply', async () => {
    expect(await probePrimary(answering(['master', 'run-1', 'repl-1']), 'k')).toEqual({
      role: 'master',
      runId: 'run-1',
      replid: 'repl-1',
    });
  });

  it('refuses a reply that is not three fields with a run id', async () => {
    for (const reply of [
      null,
      'master',
      [],
      ['master'],
      ['master', 'run-1'],
      ['master', '', 'r'],
    ]) {
      await expect(probePrimary(answering(reply), 'k')).rejects.toThrow(
        `primary identity: unexpected reply ${JSON.stringify(reply)}`,
      );
    }
  });
});

describe('PrimaryWatch without a connection to follow', () => {
  it('polls only (a Cluster client gives no single connection)', async () => {
    const clock = new ManualClock();
    let probes = 0;
    const watch = new PrimaryWatch({
      probe: () => {
        probes++;
        return Promise.resolve(primary('a'));
      },
      pollMs: 1000,
      clock,
      logger: pino({ level: 'silent' }),
      onChange: () => undefined,
    });
    await watch.start();
    expect(watch.expected).toBe('a:r1');
    clock.advance(1000);
    await settle();
    expect(probes).toBe(2);
    watch.stop();
  });
});
