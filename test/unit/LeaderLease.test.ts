import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { LeaderLease } from '../../src/pipeline/checkpoint/LeaderLease.js';
import { ManualClock } from '../helpers/manualClock.js';

/** Records every EVAL (script name from its header, and its arguments); the test answers each. */
function fakeRedis() {
  const calls: Array<{ script: string; args: unknown[]; answer: (reply: number) => void }> = [];
  const redis = {
    eval(script: string, _numKeys: number, ...args: unknown[]): Promise<unknown> {
      const name = /^-- ([a-z-]+):/.exec(script)?.[1] ?? '?';
      return new Promise((resolve) => calls.push({ script: name, args, answer: resolve }));
    },
  };
  return { redis: redis as unknown as Redis, calls };
}

function lease(redis: Redis, clock: ManualClock): LeaderLease {
  return new LeaderLease({
    redis,
    source: 'main',
    instance: 'me',
    leaseMs: 900,
    logger: pino({ level: 'silent' }),
    clock,
  });
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('LeaderLease renewals (manual clock)', () => {
  it('renews every third of the lease with the token it holds, one renewal at a time', async () => {
    const clock = new ManualClock();
    const { redis, calls } = fakeRedis();
    const l = lease(redis, clock);
    l.token = 4;
    const lost: string[] = [];
    l.keep((reason) => lost.push(reason));
    clock.advance(299);
    expect(calls).toHaveLength(0);
    clock.advance(1);
    expect(calls.map((c) => [c.script, c.args.slice(2)])).toEqual([
      ['leader-renew', ['me', 900, 4]],
    ]);
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
    const clock = new ManualClock();
    const { redis, calls } = fakeRedis();
    const l = lease(redis, clock);
    l.token = 4;
    const lost: string[] = [];
    l.keep((reason) => lost.push(reason));
    clock.advance(300);
    calls[0]?.answer(-7);
    await flush();
    expect(l.token).toBe(7);
    expect(l.holder).toBe('me/7');
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
    clock.advance(3000);
    expect(calls).toHaveLength(3); // stopped renewing
    void l.release();
  });

  it('release gives up the lease under its own acquisition only', async () => {
    const clock = new ManualClock();
    const { redis, calls } = fakeRedis();
    const l = lease(redis, clock);
    l.token = 5;
    const released = l.release();
    calls[0]?.answer(1);
    await released;
    expect(calls.map((c) => [c.script, c.args])).toEqual([
      ['leader-release', [RedisKeys.leader('main'), 'me/5']],
    ]);
  });
});
