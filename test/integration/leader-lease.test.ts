// The leader lease against a real Redis: the real scripts decide who leads.
// Standby waits run on a manual clock (the wait is asked of the clock, so
// no test waits for a lease to expire).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { LeaderLease } from '../../src/pipeline/checkpoint/LeaderLease.js';
import { randomId } from '../helpers/env.js';
import { capturedLogger } from '../helpers/logs.js';
import { ManualClock } from '../helpers/manualClock.js';
import { track } from '../helpers/track.js';
import { suiteRedis } from '../helpers/redis.js';

const suite = suiteRedis();

/** A minute: a fifth of it (12 s) is the standby's wait, whatever the lease's remaining ttl. */
const LEASE_MS = 60_000;

/** A source of its own (its lease and fencing keys removed after the test). */
function source(): string {
  const name = `ll-${randomId()}`;
  suite.open.push(() => suite.redis.del(RedisKeys.leader(name), RedisKeys.fence(name)));
  return name;
}

function lease(
  src: string,
  instance: string,
  clock: ManualClock,
  logger = pino({ level: 'silent' }),
) {
  return new LeaderLease({
    redis: suite.redis,
    source: src,
    instance,
    leaseMs: LEASE_MS,
    logger,
    clock,
  });
}

describe('LeaderLease against Redis', () => {
  it('a second instance stands by (the acquire script answers 0) until the leader releases, then leads with the next token', async () => {
    const src = source();
    const a = lease(src, 'a', new ManualClock());
    await expect(a.acquire()).resolves.toBe(true);
    expect(a.token).toBe(1);
    expect(await suite.redis.get(RedisKeys.leader(src))).toBe('a/1');

    const clockB = new ManualClock();
    const { logger, lines } = capturedLogger();
    const b = lease(src, 'b', clockB, logger);
    const acquiredB = track(b.acquire());
    await expect.poll(() => clockB.sleeps, { timeout: 5000 }).toEqual([LEASE_MS / 5]);
    expect(acquiredB.value).toBe('pending');
    expect(b.token).toBe(0);
    expect(await suite.redis.get(RedisKeys.leader(src))).toBe('a/1');
    expect(await suite.redis.get(RedisKeys.fence(src))).toBe('1');
    expect(lines.map((l) => [l.leader, l.leaseMs, l.msg])).toEqual([
      ['a/1', LEASE_MS, 'standby: another instance leads this source'],
    ]);

    await a.release();
    expect(await suite.redis.exists(RedisKeys.leader(src))).toBe(0);
    clockB.advance(LEASE_MS / 5);
    await expect.poll(() => acquiredB.value, { timeout: 5000 }).toBe(true);
    expect(b.token).toBe(2);
    expect(await suite.redis.get(RedisKeys.leader(src))).toBe('b/2');
    const pttl = await suite.redis.pttl(RedisKeys.leader(src));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(LEASE_MS);
    expect(clockB.sleeps).toEqual([LEASE_MS / 5]);

    await b.release();
    expect(await suite.redis.exists(RedisKeys.leader(src))).toBe(0);
    expect(await suite.redis.get(RedisKeys.fence(src))).toBe('2');
  });

  it("a standby's release() ends its wait with false and leaves the leader's lease alone", async () => {
    const src = source();
    const a = lease(src, 'a', new ManualClock());
    await expect(a.acquire()).resolves.toBe(true);

    const clockB = new ManualClock();
    const b = lease(src, 'b', clockB);
    const acquiredB = track(b.acquire());
    await expect.poll(() => clockB.sleeps, { timeout: 5000 }).toEqual([LEASE_MS / 5]);
    await b.release();
    expect(await suite.redis.get(RedisKeys.leader(src))).toBe('a/1');
    clockB.advance(LEASE_MS / 5);
    await expect.poll(() => acquiredB.value, { timeout: 5000 }).toBe(false);
    expect(b.token).toBe(0);
    expect(clockB.sleeps).toEqual([LEASE_MS / 5]);
    expect(await suite.redis.get(RedisKeys.leader(src))).toBe('a/1');
    expect(await suite.redis.get(RedisKeys.fence(src))).toBe('1');
    await a.release();
  });
});
