import type * as IORedis from 'ioredis';
import type { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { BusSubscriber, type BusResetReason } from '../../src/bus/BusSubscriber.js';
import { ClusterBusSubscriber } from '../../src/bus/ClusterBusSubscriber.js';
import { encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';
import { ManualClock } from '../helpers/manualClock.js';
import { track } from '../helpers/track.js';

/**
 * ioredis's `Redis`, replaced by a node connection the test drives: its
 * status and events are what ioredis reports (ready after the ready check;
 * close + reconnecting while it retries; close + end once retryStrategy gave
 * up or after disconnect(), which ioredis reports asynchronously).
 */
const { FakeRedis } = await vi.hoisted(async () => {
  const { EventEmitter } = await import('node:events');
  class FakeRedis extends EventEmitter {
    static made: FakeRedis[] = [];
    status = 'connecting';
    /** subscribe / unsubscribe / disconnect calls, in order. */
    readonly calls: string[] = [];

    constructor(
      readonly options: {
        host: string;
        port: number;
        retryStrategy: (times: number) => number | null;
      } & Record<string, unknown>,
    ) {
      super();
      FakeRedis.made.push(this);
    }

    ready(): void {
      this.status = 'ready';
      this.emit('ready');
    }

    /** Connection lost; ioredis will retry. */
    drop(): void {
      this.status = 'reconnecting';
      this.emit('close');
      this.emit('reconnecting');
    }

    /** The retries are over (retryStrategy returned null). */
    end(): void {
      this.status = 'end';
      this.emit('close');
      this.emit('end');
    }

    subscribe(channel: string): Promise<number> {
      this.calls.push(`subscribe ${channel}`);
      return Promise.resolve(1);
    }

    unsubscribe(channel: string): Promise<number> {
      this.calls.push(`unsubscribe ${channel}`);
      return Promise.resolve(0);
    }

    disconnect(): void {
      this.calls.push('disconnect');
      queueMicrotask(() => this.end());
    }
  }
  return { FakeRedis };
});
type FakeRedis = InstanceType<typeof FakeRedis>;

vi.mock('ioredis', async (importOriginal) => ({
  ...(await importOriginal<typeof IORedis>()),
  Redis: FakeRedis,
}));

interface NodeOptions {
  host?: string;
  port?: number;
}

/** The cluster client as ClusterBusSubscriber reads it: its nodes ('all') and redisOptions. */
function fakeCluster(
  nodes: NodeOptions[],
  redisOptions?: Record<string, unknown>,
): { cluster: Cluster; nodes: NodeOptions[] } {
  const cluster = {
    options: redisOptions === undefined ? {} : { redisOptions },
    // Only 'all' lists the replicas too; another role would miss nodes.
    nodes: (role: string) => (role === 'all' ? nodes.map((options) => ({ options })) : []),
  };
  return { cluster: cluster as unknown as Cluster, nodes };
}

/** Runs what is queued behind the promises resolved so far. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Moves the clock `ms` forward in steps of `step`, letting async code run between them. */
async function run(clock: ManualClock, ms: number, step = 20): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await settle();
  }
}

/** Events a plain connection emits, as the subscriber re-emits them. */
function recordEvents(sub: ClusterBusSubscriber): string[] {
  const events: string[] = [];
  for (const e of ['ready', 'close', 'reconnecting'] as const) sub.on(e, () => events.push(e));
  sub.on('message', (channel: string, message: string) =>
    events.push(`message ${channel} ${message}`),
  );
  return events;
}

const anyFunction: unknown = expect.any(Function);

const last = (): FakeRedis => FakeRedis.made[FakeRedis.made.length - 1] as FakeRedis;

describe('ClusterBusSubscriber', () => {
  let clock: ManualClock;
  let random: MockInstance<() => number>;

  beforeEach(() => {
    FakeRedis.made = [];
    clock = new ManualClock();
    random = vi.spyOn(Math, 'random').mockReturnValue(0);
  });
  afterEach(() => {
    random.mockRestore();
  });

  describe('the node it connects to', () => {
    it('a node the cluster client knows (a random one), with the cluster credentials and its own name', () => {
      random.mockReturnValue(0.99);
      const tls = { servername: 'redis.internal' };
      const { cluster } = fakeCluster(
        [
          { host: '10.0.0.1', port: 7001 },
          { host: '10.0.0.2', port: 7002 },
        ],
        { username: 'sluice', password: 's3cret', tls, db: 0 },
      );
      const sub = new ClusterBusSubscriber(cluster, { clock });
      expect(FakeRedis.made).toHaveLength(1);
      expect(last().options).toStrictEqual({
        host: '10.0.0.2',
        port: 7002,
        username: 'sluice',
        password: 's3cret',
        tls,
        connectionName: 'sluice:subscriber',
        maxRetriesPerRequest: 1,
        retryStrategy: anyFunction,
      });
      expect(sub.node).toBe('10.0.0.2:7002');
    });

    it('Math.random picks among the nodes: 0 the first, 0.99 the last of three', () => {
      const three = [
        { host: '10.0.0.1', port: 7001 },
        { host: '10.0.0.2', port: 7002 },
        { host: '10.0.0.3', port: 7003 },
      ];
      expect(new ClusterBusSubscriber(fakeCluster(three).cluster, { clock }).node).toBe(
        '10.0.0.1:7001',
      );
      random.mockReturnValue(0.5);
      expect(new ClusterBusSubscriber(fakeCluster(three).cluster, { clock }).node).toBe(
        '10.0.0.2:7002',
      );
      random.mockReturnValue(0.99);
      expect(new ClusterBusSubscriber(fakeCluster(three).cluster, { clock }).node).toBe(
        '10.0.0.3:7003',
      );
    });

    it('no credentials in the cluster options: none passed (not even as undefined); the name given', () => {
      const { cluster } = fakeCluster([{ host: '10.0.0.1', port: 7001 }]);
      new ClusterBusSubscriber(cluster, { clock, connectionName: 'sluice:verify-subscriber' });
      expect(last().options).toStrictEqual({
        host: '10.0.0.1',
        port: 7001,
        connectionName: 'sluice:verify-subscriber',
        maxRetriesPerRequest: 1,
        retryStrategy: anyFunction,
      });
    });

    it('each credential on its own: only those present are passed', () => {
      new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }], { password: 'p' }).cluster, {
        clock,
      });
      expect(last().options).toStrictEqual({
        host: 'a',
        port: 1,
        password: 'p',
        connectionName: 'sluice:subscriber',
        maxRetriesPerRequest: 1,
        retryStrategy: anyFunction,
      });
    });

    it('skips nodes without a host or a port', () => {
      const { cluster } = fakeCluster([
        { port: 7000 },
        { host: '10.0.0.9' },
        { host: '10.0.0.3', port: 7003 },
      ]);
      const sub = new ClusterBusSubscriber(cluster, { clock });
      expect(FakeRedis.made.map((c) => `${c.options.host}:${c.options.port}`)).toEqual([
        '10.0.0.3:7003',
      ]);
      expect(sub.node).toBe('10.0.0.3:7003');
    });

    it('reconnects with the shared backoff up to hopAfter attempts (default 3), then gives the node up', () => {
      new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, { clock });
      const retry = last().options.retryStrategy;
      expect([1, 2, 3, 4, 5].map(retry)).toEqual([100, 200, 400, null, null]);
      new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
        hopAfter: 1,
      });
      expect([1, 2].map(last().options.retryStrategy)).toEqual([100, null]);
      new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
        hopAfter: 0,
      });
      expect(last().options.retryStrategy(1)).toBeNull();
    });

    it('no node known yet: tries again every 100 ms until the cluster client knows one', () => {
      const { cluster, nodes } = fakeCluster([]);
      const sub = new ClusterBusSubscriber(cluster, { clock });
      expect(FakeRedis.made).toHaveLength(0);
      expect(sub.node).toBeNull();
      clock.advance(100);
      expect(FakeRedis.made).toHaveLength(0);
      nodes.push({ host: '10.0.0.1', port: 7001 });
      clock.advance(99);
      expect(FakeRedis.made).toHaveLength(0);
      clock.advance(1);
      expect(FakeRedis.made).toHaveLength(1);
      expect(sub.node).toBe('10.0.0.1:7001');
      expect(clock.pending).toBe(0); // connected: no retry left armed
    });
  });

  describe('subscribe', () => {
    it('waits for the node to be ready (not merely connected), then subscribes on it', async () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      const conn = last();
      const answer = track(sub.subscribe('sluice:bus'));
      await run(clock, 1000);
      conn.status = 'connect'; // connected, ready check (INFO) still running
      await run(clock, 1000);
      expect(answer.value).toBe('pending');
      expect(conn.calls).toEqual([]);
      conn.ready();
      await run(clock, 20);
      expect(answer.value).toBe(1);
      expect(conn.calls).toEqual(['subscribe sluice:bus']);
    });

    it('gives up after nodeWaitMs (default 5000 ms), naming the node it waited for', async () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      let failed: { at: number; message: string } | null = null;
      void sub.subscribe('ch').catch((err: Error) => {
        failed = { at: clock.now(), message: err.message };
      });
      await run(clock, 4980);
      expect(failed).toBeNull();
      await run(clock, 20);
      expect(failed).toEqual({
        at: 5000,
        message: 'redis cluster: no node ready to subscribe on (a:1)',
      });
      expect(last().calls).toEqual([]);
    });

    it('with no node known, a custom nodeWaitMs: gives up after it, naming none', async () => {
      const sub = new ClusterBusSubscriber(fakeCluster([]).cluster, { clock, nodeWaitMs: 200 });
      let failed: { at: number; message: string } | null = null;
      void sub.subscribe('ch').catch((err: Error) => {
        failed = { at: clock.now(), message: err.message };
      });
      await run(clock, 180);
      expect(failed).toBeNull();
      await run(clock, 20);
      expect(failed).toEqual({
        at: 200,
        message: 'redis cluster: no node ready to subscribe on (none)',
      });
    });

    it('unsubscribe goes to the current node; without one it answers 0', async () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      const conn = last();
      conn.ready();
      await sub.subscribe('ch');
      expect(await sub.unsubscribe('ch')).toBe(0);
      expect(conn.calls).toEqual(['subscribe ch', 'unsubscribe ch']);
      sub.disconnect();
      expect(await sub.unsubscribe('ch')).toBe(0);
      expect(conn.calls).toEqual(['subscribe ch', 'unsubscribe ch', 'disconnect']);
    });
  });

  describe('events', () => {
    it("re-emits its node's messages and ready, close and reconnecting; swallows errors", () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      const events = recordEvents(sub);
      const conn = last();
      conn.ready();
      conn.emit('message', 'sluice:bus', '{"v":1}');
      conn.drop();
      expect(() => conn.emit('error', new Error('ECONNREFUSED'))).not.toThrow();
      conn.ready();
      expect(events).toEqual([
        'ready',
        'message sluice:bus {"v":1}',
        'close',
        'reconnecting',
        'ready',
      ]);
      expect(FakeRedis.made).toHaveLength(1); // ioredis reconnects the same connection
      expect(sub.node).toBe('a:1');
    });

    it('a node that stays down: close, then after 100 ms another node; the failed one is avoided', async () => {
      const { cluster } = fakeCluster([
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ]);
      const sub = new ClusterBusSubscriber(cluster, { clock });
      const events = recordEvents(sub);
      const a = last();
      a.ready();
      a.end();
      // Its own close, then the one that says it is gone for good.
      expect(events).toEqual(['ready', 'close', 'close']);
      expect(sub.node).toBeNull();
      let failed: string | null = null;
      void sub.subscribe('ch').catch((err: Error) => (failed = err.message));
      clock.advance(99);
      expect(FakeRedis.made).toHaveLength(1);
      clock.advance(1);
      expect(FakeRedis.made).toHaveLength(2);
      const b = last();
      expect(sub.node).toBe('b:2'); // Math.random() is 0: without avoiding `a`, `a` again
      // The old node's late events are not this subscription's.
      a.ready();
      a.drop();
      expect(events).toEqual(['ready', 'close', 'close']);
      b.ready();
      await run(clock, 20);
      expect(failed).toBeNull();
      expect(b.calls).toEqual(['subscribe ch']);
      expect(a.calls).toEqual([]);
      expect(events).toEqual(['ready', 'close', 'close', 'ready']);

      // b fails in turn: back to a (b avoided now, a no longer).
      random.mockReturnValue(0.99);
      b.end();
      clock.advance(100);
      expect(sub.node).toBe('a:1');
    });

    it('the only node fails: it is tried again', () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      last().end();
      clock.advance(100);
      expect(FakeRedis.made.map((c) => c.options.host)).toEqual(['a', 'a']);
      expect(sub.node).toBe('a:1');
    });
  });

  describe('disconnect', () => {
    it('closes the node for good: no event, no reconnect, subscribe refused; idempotent', async () => {
      const sub = new ClusterBusSubscriber(fakeCluster([{ host: 'a', port: 1 }]).cluster, {
        clock,
      });
      const events = recordEvents(sub);
      const conn = last();
      const pending = sub.subscribe('late').catch((err: Error) => err.message); // node not ready yet
      sub.disconnect();
      await settle(); // ioredis reports close and end after disconnect()
      expect(conn.status).toBe('end');
      expect(events).toEqual([]);
      expect(sub.node).toBeNull();
      sub.disconnect();
      expect(conn.calls).toEqual(['disconnect']);
      await run(clock, 1000);
      expect(FakeRedis.made).toHaveLength(1);
      expect(await pending).toBe('subscriber closed');
      await expect(sub.subscribe('ch')).rejects.toThrow(/^subscriber closed$/);
    });

    it('while waiting for a node to be known: the retry is cancelled', () => {
      const { cluster, nodes } = fakeCluster([]);
      const sub = new ClusterBusSubscriber(cluster, { clock });
      nodes.push({ host: 'a', port: 1 });
      sub.disconnect();
      expect(clock.pending).toBe(0);
      clock.advance(1000);
      expect(FakeRedis.made).toHaveLength(0);
    });
  });

  describe('under a BusSubscriber (the cache on a cluster)', () => {
    const CHANNEL = 'sluice:bus';

    it('a node move bypasses L1, resubscribes on the new node and clears L1; gaps and heartbeat loss still reset', async () => {
      const { cluster } = fakeCluster([
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ]);
      const sub = new ClusterBusSubscriber(cluster, { clock });
      const calls: Array<[string, unknown]> = [];
      const bus = new BusSubscriber({
        connection: sub,
        channel: CHANNEL,
        heartbeatMs: 1000,
        logger: pino({ level: 'silent' }),
        listener: {
          onKeys: (keys) => calls.push(['keys', [...keys]]),
          onPatterns: (patterns) => calls.push(['patterns', [...patterns]]),
          onReset: (reason: BusResetReason) => calls.push(['reset', reason]),
        },
        clock,
      });
      const a = last();
      const started = bus.start();
      await run(clock, 40);
      a.ready();
      await run(clock, 20);
      await started;
      expect(a.calls).toEqual([`subscribe ${CHANNEL}`]);
      a.emit('message', CHANNEL, encodeHeartbeat('main', 0));
      expect(bus.usable).toBe(true);
      a.emit('message', CHANNEL, encodeInvalidation('main', 1, { keys: ['user:1'] }));
      expect(calls).toEqual([['keys', ['user:1']]]);

      a.end(); // the master failed for good
      expect(bus.usable).toBe(false);
      clock.advance(100);
      const b = last();
      expect(sub.node).toBe('b:2');
      expect(bus.usable).toBe(false);
      b.ready();
      await settle();
      expect(b.calls).toEqual([`subscribe ${CHANNEL}`]);
      expect(calls).toEqual([
        ['keys', ['user:1']],
        ['reset', 'resubscribed'],
      ]);
      expect(bus.usable).toBe(true);

      b.emit('message', CHANNEL, encodeInvalidation('main', 3, { keys: ['user:3'] })); // 2 lost
      expect(calls.slice(2)).toEqual([
        ['keys', ['user:3']],
        ['reset', 'gap'],
      ]);
      await run(clock, 3500, 250); // no heartbeat for 3.5 periods
      expect(calls.slice(4)).toEqual([['reset', 'heartbeat']]);
      expect(bus.usable).toBe(false);
      await bus.close();
      sub.disconnect();
    });
  });
});
