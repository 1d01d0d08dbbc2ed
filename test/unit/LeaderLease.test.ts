import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { LeaderLease } from '../../src/pipeline/checkpoint/LeaderLease.js';
import { capturedLogger, logFields } from '../helpers/logs.js';
import { ManualClock } from '../helpers/manualClock.js';
import { track } from '../helpers/track.js';

interface Call {
  /** The script name from its header for EVAL, else the command ('GET', 'PTTL'). */
  op: string;
  args: unknown[];
  answer: (reply: unknown) => void;
  fail: (err: Error) => void;
}

/**
 * Records every EVAL (script name from its header, and its arguments), GET
 * and PTTL; the test answers (or fails) each.
 */
function fakeRedis() {
  const calls: Call[] = [];
  const record = (op: string, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => calls.push({ op, args, answer: resolve, fail: reject }));
  const redis = {
    eval(script: string, _numKeys: number, ...args: unknown[]): Promise<unknown> {
      return record(/^-- ([a-z-]+):/.exec(script)?.[1] ?? '?', args);
    },
    get: (key: string) => record('GET', [key]),
    pttl: (key: string) => record('PTTL', [key]),
  };
  return { redis: redis as unknown as Redis, calls };
}

/** Instance `me` of source `main` (lease 900 ms) on a fake Redis and a manual clock, its log captured. */
function setup() {
  const clock = new ManualClock();
  const { redis, calls } = fakeRedis();
  const { logger, lines } = capturedLogger();
  const l = new LeaderLease({
    redis,
    source: 'main',
    instance: 'me',
    leaseMs: 900,
    logger,
    clock,
  });
  return { clock, calls, lines, l };
}

/** The lease held under `token` and kept: the reasons it reports losing it, in order. */
function keepLeading(l: LeaderLease, token: number): string[] {
  l.token = token;
  const lost: string[] = [];
  l.keep((reason) => lost.push(reason));
  return lost;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The info line of an instance that leads with `fence`. */
const leading = (fence: number) => ({
  level: 30,
  component: 'leader',
  instance: 'me',
  fence,
  msg: 'leading: this instance streams the binlog',
});

/** The info line a standby logs once, naming the holder it read (null: unknown). */
const standby = (leader: string | null) => ({
  level: 30,
  component: 'leader',
  leader,
  leaseMs: 900,
  msg: 'standby: another instance leads this source',
});

const LEADER = RedisKeys.leader('main');
const FENCE = RedisKeys.fence('main');
const ACQUIRE: [string, unknown[]] = ['leader-acquire', [LEADER, FENCE, 'me', 900]];

describe('LeaderLease renewals (manual clock)', () => {
  it('renews every third of the lease with the token it holds, one renewal at a time', async () => {
    const { clock, calls, l } = setup();
    const lost = keepLeading(l, 4);
    clock.advance(299);
    expect(calls).toHaveLength(0);
    clock.advance(1);
    expect(calls.map((c) => [c.op, c.args.slice(2)])).toEqual([['leader-renew', ['me', 900, 4]]]);
    clock.advance(600); // Redis does not answer: no second renewal piles up
    expect(calls).toHaveLength(1);
    calls[0]?.answer(1);
    await flush();
    clock.advance(300);
    expect(calls).toHaveLength(2);
    expect(lost).toEqual([]);
    const released = l.release();
    calls.at(-1)?.answer(1);
    await released;
  });

  it('a re-take (-token) is adopted; an answer about an older acquisition does not lose the lease', async () => {
    const { clock, calls, lines, l } = setup();
    const lost = keepLeading(l, 4);
    clock.advance(300);
    calls[0]?.answer(-7);
    await flush();
    expect(l.token).toBe(7);
    expect(l.holder).toBe('me/7');
    expect(logFields(lines)).toStrictEqual([
      {
        level: 40,
        component: 'leader',
        fence: 7,
        msg: 'lease had expired (redis outage?): re-taken with a new fencing token',
      },
    ]);
    clock.advance(300);
    expect(calls[1]?.args.slice(2)).toEqual(['me', 900, 7]);
    // Meanwhile the post-fence check adopted a newer acquisition of this instance.
    l.token = 8;
    calls[1]?.answer(0);
    await flush();
    expect(lost).toEqual([]);
    clock.advance(300);
    calls[2]?.answer(0); // sent with 8, answered 0: another instance holds it
    await flush();
    expect(lost).toEqual(['the lease expired and another instance took it']);
    expect(l.token).toBe(0);
    expect(logFields(lines).slice(1)).toStrictEqual([
      {
        level: 50,
        component: 'leader',
        code: 'E_LEADERSHIP_LOST',
        reason: 'the lease expired and another instance took it',
        msg: 'leadership lost',
      },
    ]);
    clock.advance(3000);
    expect(calls).toHaveLength(3); // stopped renewing
    void l.release();
  });

  it('a failed renewal is logged at debug and retried at the next tick, the lease kept', async () => {
    const { clock, calls, lines, l } = setup();
    const lost = keepLeading(l, 4);
    clock.advance(300);
    calls[0]?.fail(new Error('Connection is closed.'));
    await flush();
    expect(logFields(lines)).toStrictEqual([
      {
        level: 20,
        component: 'leader',
        err: 'Connection is closed.',
        msg: 'lease renewal failed; retrying',
      },
    ]);
    clock.advance(300);
    expect(calls.map((c) => [c.op, c.args.slice(2)])).toEqual([
      ['leader-renew', ['me', 900, 4]],
      ['leader-renew', ['me', 900, 4]],
    ]);
    expect(lost).toEqual([]);
    expect(l.token).toBe(4);
    const released = l.release();
    calls.at(-1)?.answer(1);
    await released;
  });

  it('a renewal answered 0 after release() reports no loss and keeps the token', async () => {
    const { clock, calls, lines, l } = setup();
    const lost = keepLeading(l, 4);
    clock.advance(300); // a renewal is in flight
    const released = l.release(); // shutting down meanwhile
    expect(calls.map((c) => [c.op, c.args])).toEqual([
      ['leader-renew', [LEADER, FENCE, 'me', 900, 4]],
      ['leader-release', [LEADER, 'me/4']],
    ]);
    calls[1]?.answer(0);
    await released;
    calls[0]?.answer(0); // the renewal's answer lands after the release
    await flush();
    expect(lost).toEqual([]);
    expect(l.token).toBe(4);
    expect(logFields(lines)).toStrictEqual([]);
    clock.advance(3000);
    expect(calls).toHaveLength(2);
  });

  it('release gives up the lease under its own acquisition only', async () => {
    const { calls, l } = setup();
    l.token = 5;
    const released = l.release();
    calls[0]?.answer(1);
    await released;
    expect(calls.map((c) => [c.op, c.args])).toEqual([['leader-release', [LEADER, 'me/5']]]);
  });

  it('release resolves even when Redis fails the release script', async () => {
    const { calls, l } = setup();
    l.token = 5;
    const released = l.release();
    calls[0]?.fail(new Error('Connection is closed.'));
    await expect(released).resolves.toBeUndefined();
  });
});

describe('LeaderLease acquire (manual clock)', () => {
  it('leads at once with the token the acquire script returns', async () => {
    const { clock, calls, lines, l } = setup();
    const acquired = l.acquire();
    expect(calls.map((c) => [c.op, c.args])).toEqual([ACQUIRE]);
    calls[0]?.answer(3);
    await expect(acquired).resolves.toBe(true);
    expect(l.token).toBe(3);
    expect(l.holder).toBe('me/3');
    expect(calls).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(logFields(lines)).toStrictEqual([leading(3)]);
  });

  it('a standby (token 0) stays pending, announces the holder once, sleeps min(pttl+5, lease/5) or 50 ms without a ttl, then leads', async () => {
    const { clock, calls, lines, l } = setup();
    const acquired = track(l.acquire());
    const ops = (): unknown[] => calls.map((c) => [c.op, c.args]);

    // 1st look: another instance holds the lease. The holder is announced once.
    calls[0]?.answer(0);
    await flush();
    expect(ops()).toEqual([ACQUIRE, ['GET', [LEADER]]]);
    calls[1]?.answer('other/3');
    await flush();
    expect(ops().slice(2)).toEqual([['PTTL', [LEADER]]]);
    calls[2]?.answer(400); // min(405, 900/5): a fifth of a lease
    await flush();
    expect(clock.sleeps).toEqual([180]);
    expect(l.token).toBe(0);
    clock.advance(179);
    await flush();
    expect(calls).toHaveLength(3);
    clock.advance(1);
    await flush();
    expect(ops().slice(3)).toEqual([ACQUIRE]);

    // 2nd look: still held, its lease ends sooner than a fifth of ours: no new GET.
    calls[3]?.answer(0);
    await flush();
    expect(ops().slice(4)).toEqual([['PTTL', [LEADER]]]);
    calls[4]?.answer(100); // min(105, 180)
    await flush();
    expect(clock.sleeps).toEqual([180, 105]);
    clock.advance(104);
    await flush();
    expect(calls).toHaveLength(5);
    clock.advance(1);
    await flush();
    expect(ops().slice(5)).toEqual([ACQUIRE]);

    // 3rd look: the lease is about to expire (pttl 0): 50 ms, not 5.
    calls[5]?.answer(0);
    await flush();
    calls[6]?.answer(0);
    await flush();
    expect(clock.sleeps).toEqual([180, 105, 50]);
    clock.advance(50);
    await flush();

    // 4th look: the key is gone meanwhile (pttl -2): 50 ms, not 5.
    calls[7]?.answer(0);
    await flush();
    calls[8]?.answer(-2);
    await flush();
    expect(clock.sleeps).toEqual([180, 105, 50, 50]);
    clock.advance(50);
    await flush();

    // 5th look: the lease is free: this instance leads with the new token.
    expect(ops().slice(7)).toEqual([ACQUIRE, ['PTTL', [LEADER]], ACQUIRE]);
    expect(acquired.value).toBe('pending');
    calls[9]?.answer(4);
    await flush();
    expect(acquired.value).toBe(true);
    expect(l.token).toBe(4);
    expect(calls).toHaveLength(10);
    expect(clock.sleeps).toEqual([180, 105, 50, 50]);
    expect(clock.pending).toBe(0);
    expect(logFields(lines)).toStrictEqual([standby('other/3'), leading(4)]);
  });

  it('Redis errors during acquire are logged as E_REDIS and retried every 50 ms until the script answers', async () => {
    const { clock, calls, lines, l } = setup();
    const acquired = track(l.acquire());
    const down = new Error('connect ECONNREFUSED 127.0.0.1:6379');

    calls[0]?.fail(down);
    await flush();
    calls[1]?.fail(down); // GET: the holder is unknown
    await flush();
    calls[2]?.fail(down); // PTTL: no ttl, 50 ms
    await flush();
    expect(clock.sleeps).toEqual([50]);
    clock.advance(49);
    await flush();
    expect(calls).toHaveLength(3);
    clock.advance(1);
    await flush();
    calls[3]?.fail(down);
    await flush();
    calls[4]?.fail(down);
    await flush();
    expect(clock.sleeps).toEqual([50, 50]);
    clock.advance(50);
    await flush();
    expect(acquired.value).toBe('pending');
    expect(l.token).toBe(0);
    calls[5]?.answer(2);
    await flush();
    expect(acquired.value).toBe(true);
    expect(l.token).toBe(2);
    expect(calls.map((c) => [c.op, c.args])).toEqual([
      ACQUIRE,
      ['GET', [LEADER]],
      ['PTTL', [LEADER]],
      ACQUIRE,
      ['PTTL', [LEADER]],
      ACQUIRE,
    ]);
    const unavailable = {
      level: 40,
      component: 'leader',
      code: 'E_REDIS',
      err: 'connect ECONNREFUSED 127.0.0.1:6379',
      msg: 'leader lease: redis unavailable',
    };
    expect(logFields(lines)).toStrictEqual([unavailable, standby(null), unavailable, leading(2)]);
  });

  it('release() during a standby wait makes acquire() resolve false once the wait ends, with no further look', async () => {
    const { clock, calls, l } = setup();
    const acquired = track(l.acquire());
    calls[0]?.answer(0);
    await flush();
    calls[1]?.answer('other/3');
    await flush();
    calls[2]?.answer(400);
    await flush();
    expect(clock.sleeps).toEqual([180]);

    const released = l.release();
    expect(calls.map((c) => [c.op, c.args]).slice(3)).toEqual([
      ['leader-release', [LEADER, 'me/0']],
    ]);
    calls[3]?.answer(0); // not held by this instance
    await released;
    expect(acquired.value).toBe('pending');
    clock.advance(180);
    await flush();
    expect(acquired.value).toBe(false);
    expect(l.token).toBe(0);
    expect(calls).toHaveLength(4);
    expect(clock.pending).toBe(0);
  });

  it('release() while the acquire script is in flight: the lease it then takes is given back, acquire() resolves false', async () => {
    const { clock, calls, l } = setup();
    const acquired = track(l.acquire());
    const released = l.release();
    calls[1]?.answer(0); // release of 'me/0': nothing held yet
    await released;
    calls[0]?.answer(9); // the old leader just left: this instance took the lease as me/9
    await flush();
    expect(calls.map((c) => [c.op, c.args])).toEqual([
      ACQUIRE,
      ['leader-release', [LEADER, 'me/0']],
      ['leader-release', [LEADER, 'me/9']],
    ]);
    calls[2]?.answer(1);
    await flush();
    expect(acquired.value).toBe(false);
    expect(l.token).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('release() while the acquire script is in flight and another instance leads: acquire() resolves false at once, no standby look', async () => {
    const { clock, calls, l } = setup();
    const acquired = track(l.acquire());
    const released = l.release();
    calls[1]?.answer(0);
    await released;
    calls[0]?.answer(0); // another instance holds the lease
    await flush();
    expect(acquired.value).toBe(false);
    expect(calls.map((c) => c.op)).toEqual(['leader-acquire', 'leader-release']);
    expect(clock.sleeps).toEqual([]);
  });

  it('acquire() after release() resolves false without asking Redis', async () => {
    const { calls, l } = setup();
    const released = l.release();
    calls[0]?.answer(0);
    await released;
    await expect(l.acquire()).resolves.toBe(false);
    expect(calls.map((c) => c.op)).toEqual(['leader-release']);
  });
});

describe('LeaderLease confirm (after a fenced-off write)', () => {
  it('keeps the token it holds without a warning', async () => {
    const { calls, lines, l } = setup();
    l.token = 5;
    const confirmed = l.confirm();
    expect(calls.map((c) => [c.op, c.args])).toEqual([
      ['leader-check', [LEADER, FENCE, 'me', 900]],
    ]);
    calls[0]?.answer(5);
    await expect(confirmed).resolves.toBe(true);
    expect(l.token).toBe(5);
    expect(logFields(lines)).toStrictEqual([]);
  });

  it('adopts a newer token of this instance and says so', async () => {
    const { calls, lines, l } = setup();
    l.token = 5;
    const confirmed = l.confirm();
    calls[0]?.answer(6);
    await expect(confirmed).resolves.toBe(true);
    expect(l.token).toBe(6);
    expect(logFields(lines)).toStrictEqual([
      {
        level: 40,
        component: 'leader',
        fence: 6,
        was: 5,
        msg: 'fenced write retried with the current token of this instance',
      },
    ]);
  });

  it('is false when another instance leads (0), the token left as it was', async () => {
    const { calls, l } = setup();
    l.token = 5;
    const confirmed = l.confirm();
    calls[0]?.answer(0);
    await expect(confirmed).resolves.toBe(false);
    expect(l.token).toBe(5);
  });
});
