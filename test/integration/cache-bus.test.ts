import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';
import { FakePublisher, gate, testCache, type Unsafe } from '../helpers/cache.js';
import { randomId } from '../helpers/env.js';
import { testRedis } from '../helpers/redis.js';

/**
 * What the bus does to a SluiceCache's L1 (real Redis, a fake daemon on the
 * channel): each protection run with and without it. Races are made
 * deterministic by a loader that waits until the message has been handled.
 */
describe('SluiceCache and the invalidation bus', () => {
  const open: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const close of open.splice(0)) await close();
  });

  async function setup(unsafe: Unsafe = {}): Promise<{
    t: Awaited<ReturnType<typeof testCache>>;
    pub: FakePublisher;
    p: string;
  }> {
    const p = `bus${randomId()}`;
    const channel = `sluice:test:${p}`;
    const pub = new FakePublisher(channel);
    open.push(() => pub.close());
    // Heartbeats every 100 ms, declared silent only after 3 s: a busy machine
    // delaying a heartbeat does not reset L1 in the middle of a test.
    const t = await testCache({ channel, heartbeatMs: 1000, unsafe });
    open.push(t.close);
    pub.startHeartbeats(100);
    await vi.waitFor(() => expect(t.cache.l1Usable).toBe(true));
    return { t, pub, p };
  }

  /**
   * A read of `key` whose loader waits while `during` runs; returns where the
   * next read of the key is answered from ('l1' = the fill was stored).
   */
  async function fillAcross(
    t: Awaited<ReturnType<typeof testCache>>,
    key: string,
    during: () => Promise<void>,
  ): Promise<string> {
    const loading = gate();
    const release = gate();
    const reading = t.cache.read(key, async () => {
      loading.open();
      await release.promise;
      return { v: 1 };
    });
    await loading.promise;
    await during();
    release.open();
    expect((await reading).source).toBe('miss');
    return (await t.cache.read(key, () => Promise.resolve({ v: 2 }))).source;
  }

  it('a pattern invalidation during a fill keeps it out of L1 (control: without fill tracking it lands)', async () => {
    for (const unsafe of [{}, { noFillTracking: true }]) {
      const { t, pub, p } = await setup(unsafe);
      const source = await fillAcross(t, `${p}:user:1`, async () => {
        const before = t.cache.stats().bus.messages;
        await pub.publishRaw(encodeInvalidation(pub.src, ++pub.seq, { patterns: [`${p}:user:*`] }));
        await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBe(before + 1));
      });
      expect(source, JSON.stringify(unsafe)).toBe(unsafe.noFillTracking ? 'l1' : 'l2');
    }
  });

  it('a reset (seq gap) during a fill keeps it out of L1 (control: without fill tracking it lands)', async () => {
    for (const unsafe of [{}, { noFillTracking: true }]) {
      const { t, pub, p } = await setup(unsafe);
      const source = await fillAcross(t, `${p}:user:2`, async () => {
        await pub.invalidate([`${p}:unrelated:1`], pub.seq + 2); // one message lost
        await vi.waitFor(() => expect(t.cache.stats().bus.gaps).toBe(1));
      });
      expect(source, JSON.stringify(unsafe)).toBe(unsafe.noFillTracking ? 'l1' : 'l2');
    }
  });

  /** A cache whose L1 holds `key`, answered from L1. */
  async function warm(
    unsafe: Unsafe,
  ): Promise<Awaited<ReturnType<typeof setup>> & { key: string }> {
    const s = await setup(unsafe);
    const key = `${s.p}:user:9`;
    await s.t.cache.read(key, () => Promise.resolve({ id: 9 }));
    expect((await s.t.cache.read(key, () => Promise.resolve(null))).source).toBe('l1');
    return { ...s, key };
  }

  it('a heartbeat whose seq is past the last message (the message was lost) clears L1 (control: noResets keeps it)', async () => {
    for (const unsafe of [{}, { noResets: true }]) {
      const { t, pub, key, p } = await warm(unsafe);
      await pub.invalidate([`${p}:unrelated:1`]);
      await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBe(1));
      // Message seq+1 never reaches this process; only the heartbeat that repeats it does.
      pub.seq++;
      await vi.waitFor(() => expect(t.cache.stats().bus.gaps).toBe(1));
      const after = await t.cache.read(key, () => Promise.resolve(null));
      expect(after.source, JSON.stringify(unsafe)).toBe(unsafe.noResets ? 'l1' : 'l2');
    }
  });

  it('a lower seq (the daemon restarted) clears L1 (control: noResets keeps it)', async () => {
    for (const unsafe of [{}, { noResets: true }]) {
      const { t, pub, key, p } = await warm(unsafe);
      await pub.invalidate([`${p}:unrelated:1`]);
      await pub.invalidate([`${p}:unrelated:2`]);
      await vi.waitFor(() => expect(t.cache.stats().bus.messages).toBe(2));
      const resets = t.cache.stats().bus.resets;
      await pub.invalidate([`${p}:unrelated:3`], 1); // a new run starts over at 1
      await vi.waitFor(() => expect(t.cache.stats().bus.resets).toBe(resets + 1));
      expect(t.cache.stats().bus.gaps).toBe(0);
      const after = await t.cache.read(key, () => Promise.resolve(null));
      expect(after.source, JSON.stringify(unsafe)).toBe(unsafe.noResets ? 'l1' : 'l2');
    }
  });

  it('a flush message clears L1 and counts an L1 reset', async () => {
    const { t, pub, key } = await warm({});
    await pub.publishRaw(encodeInvalidation(pub.src, ++pub.seq, { flush: true }));
    await vi.waitFor(() => expect(t.cache.stats().l1Resets).toBe(1));
    expect(t.cache.stats().l1Entries).toBe(0);
    expect((await t.cache.read(key, () => Promise.resolve(null))).source).toBe('l2');
  });

  it("this process's own deletes are applied at once and not again from the bus", async () => {
    const { t, p } = await warm({});
    const redis = testRedis();
    open.push(() => redis.disconnect());
    await t.cache.read(`${p}:own`, () => Promise.resolve(1));
    await t.cache.delete(`${p}:own`);
    // The heartbeat's seq is the daemon's; the cache's own seq 1 is not a gap.
    await redis.publish(`sluice:test:${p}`, encodeHeartbeat('nobody', 0));
    await vi.waitFor(() => expect(t.cache.stats().bus.heartbeats).toBeGreaterThan(2));
    expect(t.cache.stats().bus.messages).toBe(0);
    expect(t.cache.stats().bus.resets).toBe(0);
  });
});
