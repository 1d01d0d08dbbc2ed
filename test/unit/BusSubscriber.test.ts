import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BusSubscriber,
  type BusResetReason,
  type BusSubscriberOptions,
  type SubscriberConnection,
  UNSUBSCRIBE_WAIT_MS,
} from '../../src/bus/BusSubscriber.js';
import { encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';
import { parseFenceToken } from '../../src/bus/Watermark.js';

const CHANNEL = 'sluice:test';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

/** A subscription connection whose events the test emits (ioredis's, by name). */
class FakeConnection extends EventEmitter implements SubscriberConnection {
  subscribes: string[] = [];
  unsubscribes: string[] = [];
  /** The next subscribe calls fail with this error. */
  failSubscribe: Error | null = null;
  failUnsubscribe = false;
  /** Unsubscribe never answers (a command waiting in the offline queue). */
  hangUnsubscribe = false;
  /** While set, subscribe waits for it. */
  hold: Promise<void> | null = null;

  async subscribe(channel: string): Promise<unknown> {
    if (this.hold) await this.hold;
    if (this.failSubscribe) throw this.failSubscribe;
    this.subscribes.push(channel);
    return 1;
  }

  unsubscribe(channel: string): Promise<unknown> {
    if (this.failUnsubscribe) return Promise.reject(new Error('connection closed'));
    this.unsubscribes.push(channel);
    if (this.hangUnsubscribe) return new Promise(() => undefined);
    return Promise.resolve(0);
  }

  disconnect(): void {}

  deliver(message: string, channel = CHANNEL): void {
    this.emit('message', channel, message);
  }
}

/** What the listener was told, in order. */
type Call = ['keys', string[]] | ['patterns', string[]] | ['reset', BusResetReason];

function setup(options: Partial<BusSubscriberOptions> = {}): {
  bus: BusSubscriber;
  conn: FakeConnection;
  calls: Call[];
  logs: Array<Record<string, unknown>>;
} {
  const conn = new FakeConnection();
  const calls: Call[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const bus = new BusSubscriber({
    connection: conn,
    channel: CHANNEL,
    heartbeatMs: 1000,
    logger,
    listener: {
      onKeys: (keys) => calls.push(['keys', [...keys]]),
      onPatterns: (patterns) => calls.push(['patterns', [...patterns]]),
      onReset: (reason) => calls.push(['reset', reason]),
    },
    ...options,
  });
  return { bus, conn, calls, logs };
}

const inv = (seq: number, body: Parameters<typeof encodeInvalidation>[2], src = 'main'): string =>
  encodeInvalidation(src, seq, body);
const hb = (seq: number, src = 'main'): string => encodeHeartbeat(src, seq);

describe('BusSubscriber', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('subscribes its channel and is usable once a daemon heartbeat arrives', async () => {
    const { bus, conn, logs } = setup();
    expect(bus.isSubscribed).toBe(false);
    await bus.start();
    expect(conn.subscribes).toEqual([CHANNEL]);
    expect(bus.isSubscribed).toBe(true);
    expect(bus.usable).toBe(false); // no daemon heard yet
    conn.deliver(hb(0));
    expect(bus.usable).toBe(true);
    expect(bus.stats).toEqual({ messages: 0, ignored: 0, gaps: 0, resets: 0, heartbeats: 1 });
    expect(logs).toContainEqual(
      expect.objectContaining({ component: 'bus', channel: CHANNEL, msg: 'subscribed' }),
    );
  });

  it('without requireHeartbeat it is usable as soon as it is subscribed', async () => {
    const { bus } = setup({ requireHeartbeat: false });
    expect(bus.usable).toBe(false);
    await bus.start();
    expect(bus.usable).toBe(true);
  });

  it('hands keys and patterns to the listener; a flush resets', async () => {
    const { bus, conn, calls } = setup();
    await bus.start();
    conn.deliver(inv(1, { keys: ['user:1', 'user:2'] }));
    conn.deliver(inv(2, { patterns: ['user:*'] }));
    conn.deliver(inv(3, { keys: ['a'], patterns: ['b:*'], flush: true }));
    conn.deliver(inv(4, {}));
    expect(calls).toEqual([
      ['keys', ['user:1', 'user:2']],
      ['patterns', ['user:*']],
      ['keys', ['a']],
      ['patterns', ['b:*']],
      ['reset', 'flush'],
    ]);
    expect(bus.stats).toEqual({ messages: 4, ignored: 0, gaps: 0, resets: 1, heartbeats: 0 });
  });

  it('ignores other channels, counts malformed messages, skips its own', async () => {
    const { bus, conn, calls } = setup({ ownSource: 'me' });
    await bus.start();
    conn.deliver(inv(1, { keys: ['x'] }), 'another:channel');
    conn.deliver('not json');
    conn.deliver(JSON.stringify({ v: 2, src: 'main', seq: 1 }));
    conn.deliver(inv(1, { keys: ['mine'] }, 'me'));
    conn.deliver(inv(7, { keys: ['mine'] }, 'me'));
    expect(calls).toEqual([]);
    expect(bus.stats).toEqual({ messages: 0, ignored: 2, gaps: 0, resets: 0, heartbeats: 0 });
    conn.deliver(inv(1, { keys: ['theirs'] }, 'other'));
    expect(calls).toEqual([['keys', ['theirs']]]);
  });

  describe('sequence numbers', () => {
    it('in order, or a retried publish (same seq): no reset', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      for (const seq of [5, 6, 6, 7]) conn.deliver(inv(seq, { keys: [`k${seq}`] }));
      expect(calls.filter((c) => c[0] === 'reset')).toEqual([]);
      expect(bus.stats.gaps).toBe(0);
    });

    it('a skipped seq (a lost message) resets with reason gap, after applying the keys', async () => {
      const { bus, conn, calls, logs } = setup();
      await bus.start();
      conn.deliver(inv(1, { keys: ['a'] }));
      conn.deliver(inv(3, { keys: ['c'] })); // 2 was lost
      conn.deliver(inv(4, { keys: ['d'] })); // in order again from 3
      expect(calls).toEqual([
        ['keys', ['a']],
        ['keys', ['c']],
        ['reset', 'gap'],
        ['keys', ['d']],
      ]);
      expect(bus.stats).toMatchObject({ gaps: 1, resets: 1 });
      expect(logs).toContainEqual(expect.objectContaining({ reason: 'gap', msg: 'L1 reset' }));
    });

    it('a lower seq (the publisher restarted) resets with reason restart, then follows the new run', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.deliver(inv(41, { keys: ['a'] }));
      conn.deliver(inv(1, { keys: ['b'] })); // a new daemon run starts over
      conn.deliver(inv(2, { keys: ['c'] }));
      expect(calls).toEqual([
        ['keys', ['a']],
        ['keys', ['b']],
        ['reset', 'restart'],
        ['keys', ['c']],
      ]);
      expect(bus.stats).toMatchObject({ gaps: 0, resets: 1 });
    });

    it('a heartbeat with a higher seq than the last message shows a lost message: gap', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.deliver(hb(10));
      conn.deliver(inv(11, { keys: ['a'] }));
      conn.deliver(hb(11)); // repeats the last seq: nothing lost
      expect(calls).toEqual([['keys', ['a']]]);
      conn.deliver(hb(12)); // message 12 never arrived
      expect(calls).toEqual([
        ['keys', ['a']],
        ['reset', 'gap'],
      ]);
      expect(bus.stats).toMatchObject({ gaps: 1, resets: 1, heartbeats: 3 });
      conn.deliver(inv(13, { keys: ['b'] })); // in order after the heartbeat's seq
      expect(calls.at(-1)).toEqual(['keys', ['b']]);
      expect(bus.stats.resets).toBe(1);
    });

    it('the first heartbeat of a source sets its seq; a lower heartbeat leaves it to the next message', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.deliver(hb(20));
      conn.deliver(inv(21, { keys: ['a'] })); // next after the heartbeat's seq
      conn.deliver(hb(3)); // lower: no reset, the seq stays 21
      conn.deliver(inv(22, { keys: ['b'] }));
      expect(calls).toEqual([
        ['keys', ['a']],
        ['keys', ['b']],
      ]);
      conn.deliver(inv(4, { keys: ['c'] })); // the message tells the restart
      expect(calls.at(-1)).toEqual(['reset', 'restart']);
    });

    it('sources are followed independently', async () => {
      const { conn, calls, bus } = setup();
      await bus.start();
      conn.deliver(inv(1, { keys: ['a'] }, 'one'));
      conn.deliver(inv(9, { keys: ['b'] }, 'two'));
      conn.deliver(inv(2, { keys: ['c'] }, 'one'));
      conn.deliver(inv(10, { keys: ['d'] }, 'two'));
      expect(calls.filter((c) => c[0] === 'reset')).toEqual([]);
    });
  });

  describe('heartbeats', () => {
    it('three missed periods make it unusable and reset; a heartbeat makes it usable again', async () => {
      const { bus, conn, calls, logs } = setup();
      await bus.start(); // checks every 500 ms from now
      conn.deliver(hb(0));
      await vi.advanceTimersByTimeAsync(3499);
      expect(bus.usable).toBe(true); // 3000 ms is the limit, not yet exceeded at a check
      expect(calls).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(bus.usable).toBe(false);
      expect(calls).toEqual([['reset', 'heartbeat']]);
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 40,
          limitMs: 3000,
          msg: 'daemon heartbeat missing: L1 bypassed and cleared',
        }),
      );
      await vi.advanceTimersByTimeAsync(5000);
      expect(calls).toEqual([['reset', 'heartbeat']]); // once, not on every check
      conn.deliver(hb(0));
      expect(bus.usable).toBe(true);
    });

    it('a heartbeat exactly at the limit is still fresh', async () => {
      const { bus, conn } = setup({ heartbeatMs: 100 }); // checks every 50 ms
      await bus.start();
      conn.deliver(hb(0));
      await vi.advanceTimersByTimeAsync(300);
      expect(bus.usable).toBe(true);
      await vi.advanceTimersByTimeAsync(50);
      expect(bus.usable).toBe(false);
    });

    it('short periods are checked at most every 50 ms', async () => {
      const { bus, conn } = setup({ heartbeatMs: 20 });
      await bus.start();
      conn.deliver(hb(0));
      await vi.advanceTimersByTimeAsync(99);
      expect(bus.usable).toBe(true); // 60 ms exceeded, but the next check is at 100
      await vi.advanceTimersByTimeAsync(1);
      expect(bus.usable).toBe(false);
    });

    it('one silent daemon among several is enough to stop trusting L1', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.deliver(hb(0, 'a'));
      conn.deliver(hb(0, 'b'));
      await vi.advanceTimersByTimeAsync(2500);
      conn.deliver(hb(0, 'a')); // a keeps beating, b went silent at 0
      await vi.advanceTimersByTimeAsync(1000);
      expect(bus.usable).toBe(false);
      expect(calls).toEqual([['reset', 'heartbeat']]);
    });

    it('publishers without heartbeats (library instances) do not count either way', async () => {
      const { bus, conn } = setup();
      await bus.start();
      conn.deliver(inv(1, { keys: ['a'] }, 'cache:host:1'));
      await vi.advanceTimersByTimeAsync(600); // a check ran: still no daemon heard
      expect(bus.usable).toBe(false);
      conn.deliver(hb(0));
      await vi.advanceTimersByTimeAsync(1000);
      conn.deliver(hb(0));
      await vi.advanceTimersByTimeAsync(2500);
      expect(bus.usable).toBe(true);
    });
  });

  describe('the connection', () => {
    it('a lost connection makes it unusable; once ready again it resubscribes and resets', async () => {
      const { bus, conn, calls, logs } = setup();
      await bus.start();
      conn.deliver(hb(0));
      conn.emit('close');
      expect(bus.usable).toBe(false);
      expect(bus.isSubscribed).toBe(false);
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: 'invalidation subscription lost: L1 bypassed until resubscribed',
        }),
      );
      conn.emit('reconnecting'); // already down: nothing more
      expect(
        logs.filter((l) => String(l.msg).startsWith('invalidation subscription lost')),
      ).toHaveLength(1);
      conn.emit('ready');
      await vi.waitFor(() => expect(bus.isSubscribed).toBe(true));
      expect(conn.subscribes).toEqual([CHANNEL, CHANNEL]);
      expect(calls).toEqual([['reset', 'resubscribed']]);
      expect(bus.usable).toBe(true);
    });

    it("'reconnecting' alone marks it down too", async () => {
      const { bus, conn } = setup();
      await bus.start();
      conn.emit('reconnecting');
      expect(bus.isSubscribed).toBe(false);
    });

    it("a 'ready' on a live subscription does nothing (ioredis emits one without a reconnect)", async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.emit('ready');
      await vi.advanceTimersByTimeAsync(0);
      expect(conn.subscribes).toEqual([CHANNEL]);
      expect(calls).toEqual([]);
      expect(bus.isSubscribed).toBe(true);
    });

    it("a 'ready' before the first subscribe was tried does not subscribe", async () => {
      const { conn } = setup();
      conn.emit('ready'); // no handler yet
      const { bus, conn: c2 } = setup();
      const release = gate();
      c2.hold = release.promise;
      const starting = bus.start();
      c2.emit('ready'); // the first subscribe is still pending: not failed, not done
      release.open();
      await starting;
      expect(c2.subscribes).toEqual([CHANNEL]);
      expect(conn.subscribes).toEqual([]);
    });

    it('a failed first subscribe (Redis down at start) is retried on ready, without a reset', async () => {
      const { bus, conn, calls, logs } = setup();
      conn.failSubscribe = new Error('ECONNREFUSED');
      await bus.start();
      expect(bus.isSubscribed).toBe(false);
      expect(logs).toContainEqual(
        expect.objectContaining({
          err: 'ECONNREFUSED',
          msg: 'subscribe failed; L1 bypassed until it succeeds',
        }),
      );
      conn.failSubscribe = null;
      conn.emit('ready');
      await vi.waitFor(() => expect(bus.isSubscribed).toBe(true));
      expect(calls).toEqual([]); // nothing was cached from a subscription before
      conn.emit('ready');
      await vi.advanceTimersByTimeAsync(0);
      expect(conn.subscribes).toEqual([CHANNEL]);
    });

    it('a resubscribe that fails is retried on the next ready', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.emit('close');
      conn.failSubscribe = new Error('LOADING');
      conn.emit('ready');
      await vi.advanceTimersByTimeAsync(0);
      expect(bus.isSubscribed).toBe(false);
      conn.failSubscribe = null;
      conn.emit('ready');
      await vi.waitFor(() => expect(bus.isSubscribed).toBe(true));
      expect(calls).toEqual([['reset', 'resubscribed']]);
    });
  });

  describe('close', () => {
    it('unsubscribes, stops the heartbeat checks and ignores later events', async () => {
      const { bus, conn, calls } = setup();
      await bus.start();
      conn.deliver(hb(0));
      await bus.close();
      expect(conn.unsubscribes).toEqual([CHANNEL]);
      expect(bus.usable).toBe(false);
      expect(bus.isSubscribed).toBe(false);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(calls).toEqual([]); // no heartbeat reset after close
      conn.emit('ready');
      await vi.advanceTimersByTimeAsync(0);
      expect(conn.subscribes).toEqual([CHANNEL]);
    });

    it('an unsubscribe on a dead connection is not an error', async () => {
      const { bus, conn } = setup();
      await bus.start();
      conn.failUnsubscribe = true;
      await expect(bus.close()).resolves.toBeUndefined();
    });

    it('a close during the first subscribe leaves the channel unsubscribed', async () => {
      const { bus, conn } = setup();
      const release = gate();
      conn.hold = release.promise;
      const starting = bus.start();
      await bus.close();
      release.open();
      await starting;
      expect(conn.subscribes).toEqual([CHANNEL]);
      expect(conn.unsubscribes).toEqual([CHANNEL]); // by the subscribe, once it landed
      expect(bus.isSubscribed).toBe(false);
    });

    it('a lost subscription is not unsubscribed: close() returns at once (Redis down at shutdown)', async () => {
      const { bus, conn } = setup();
      await bus.start();
      conn.hangUnsubscribe = true;
      conn.emit('close');
      await bus.close(); // would hang on the unsubscribe
      expect(conn.unsubscribes).toEqual([]);
    });

    it('an unsubscribe that never answers is waited for UNSUBSCRIBE_WAIT_MS at most', async () => {
      const { bus, conn } = setup();
      await bus.start();
      conn.hangUnsubscribe = true;
      let closed = false;
      const closing = bus.close().then(() => (closed = true));
      await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_WAIT_MS - 1);
      expect(closed).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await closing;
      expect(conn.unsubscribes).toEqual([CHANNEL]);
    });
  });
});

describe('BusSubscriber: the watermark (read your own writes)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const token = (t: string) => parseFenceToken(t);

  it('a message moves its source watermark only after its keys were handed to L1', async () => {
    const atEviction: boolean[] = [];
    const s = setup({
      listener: {
        // Whether a fenced read would pass at the moment L1 evicts.
        onKeys: () => atEviction.push(s.bus.passed('main', token('0-1-5'))),
        onPatterns: () => undefined,
        onReset: () => undefined,
      },
    });
    const { bus, conn } = s;
    await bus.start();
    expect(bus.passed('main', token('0-1-5'))).toBe(false);
    conn.deliver(inv(1, { keys: ['user:1'], pos: 'binlog.000001:500', gtid: '0-1-5' }));
    expect(atEviction).toEqual([false]);
    expect(bus.passed('main', token('0-1-5'))).toBe(true);
    expect(bus.passed('main', token('0-1-4'))).toBe(true);
    expect(bus.passed('main', token('0-1-6'))).toBe(false);
    expect(bus.passed('main', token('binlog.000001:500'))).toBe(true);
    expect(bus.passed('main', token('binlog.000001:501'))).toBe(false);
    // Other sources' watermarks are their own.
    expect(bus.passed('other', token('0-1-5'))).toBe(false);
  });

  it('a heartbeat carries the acknowledged boundary', async () => {
    const { bus, conn } = setup();
    await bus.start();
    conn.deliver(encodeHeartbeat('main', 0, { pos: 'binlog.000002:4', gtid: '0-1-9' }));
    expect(bus.passed('main', token('0-1-9'))).toBe(true);
    expect(bus.passed('main', token('binlog.000001:999999'))).toBe(true);
  });

  it('waitFor wakes on the message that passes the token, not before; false after the timeout', async () => {
    const { bus, conn } = setup();
    await bus.start();
    conn.deliver(hb(0));
    let woke: boolean | null = null;
    void bus.waitFor('main', token('0-1-7'), 1000).then((r) => (woke = r));
    conn.deliver(inv(1, { keys: ['a'], gtid: '0-1-6' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(null);
    conn.deliver(inv(2, { keys: ['b'], gtid: '0-1-7' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(true);

    let late: boolean | null = null;
    void bus.waitFor('main', token('0-1-8'), 1000).then((r) => (late = r));
    await vi.advanceTimersByTimeAsync(999);
    expect(late).toBe(null);
    await vi.advanceTimersByTimeAsync(1);
    expect(late).toBe(false);
    // A token already passed answers at once; a zero wait does not wait.
    expect(await bus.waitFor('main', token('0-1-7'), 0)).toBe(true);
    expect(await bus.waitFor('main', token('0-1-9'), 0)).toBe(false);
  });

  it('a message with a position and no GTID (MySQL without GTIDs) moves the watermark and wakes the read waiting for it', async () => {
    const { bus, conn } = setup();
    await bus.start();
    let woke: boolean | null = null;
    void bus.waitFor('main', token('binlog.000003:120'), 1000).then((r) => (woke = r));
    conn.deliver(inv(1, { keys: ['a'], pos: 'binlog.000003:120' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(true);
    expect(bus.passed('main', token('binlog.000003:120'))).toBe(true);
    expect(bus.passed('main', token('binlog.000003:121'))).toBe(false);
  });

  it('several reads waiting on one source: each woken by the message that passes its token', async () => {
    const { bus, conn } = setup();
    await bus.start();
    const woke: Array<[string, boolean]> = [];
    for (const t of ['0-1-3', '0-1-2', '0-1-4']) {
      void bus.waitFor('main', token(t), 1000).then((r) => woke.push([t, r]));
    }
    conn.deliver(inv(1, { keys: ['a'], gtid: '0-1-3' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toEqual([
      ['0-1-3', true],
      ['0-1-2', true],
    ]);
    conn.deliver(inv(2, { keys: ['b'], gtid: '0-1-4' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toEqual([
      ['0-1-3', true],
      ['0-1-2', true],
      ['0-1-4', true],
    ]);
  });

  it('a publisher restart starts its watermark over', async () => {
    const { bus, conn } = setup();
    await bus.start();
    conn.deliver(inv(5, { keys: ['a'], gtid: '0-1-50' }));
    expect(bus.passed('main', token('0-1-50'))).toBe(true);
    conn.deliver(inv(1, { keys: ['b'], gtid: '0-1-40' })); // a new run from its checkpoint
    expect(bus.passed('main', token('0-1-40'))).toBe(true);
    expect(bus.passed('main', token('0-1-50'))).toBe(false);
  });

  it('a mark without gtid or pos moves nothing; malformed marks are dropped as messages', async () => {
    const { bus, conn } = setup();
    await bus.start();
    conn.deliver(inv(1, { keys: ['a'] }));
    expect(bus.passed('main', token('0-1-1'))).toBe(false);
    conn.deliver(JSON.stringify({ v: 1, src: 'main', seq: 2, keys: ['b'], gtid: 7 }));
    expect(bus.stats.ignored).toBe(1);
  });
});
