import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BusPublisher } from '../../src/bus/BusPublisher.js';
import { ManualClock } from '../helpers/manualClock.js';

const seqOf = (message: string): unknown => (JSON.parse(message) as { seq: unknown }).seq;

/** Just enough of a single Redis for the publisher: PUBLISH, recorded. */
function fakeRedis(fail = false) {
  const sent: Array<Record<string, unknown>> = [];
  const redis = {
    isCluster: false,
    publish(channel: string, message: string): Promise<number> {
      if (fail) return Promise.reject(new Error('down'));
      sent.push({ channel, ...(JSON.parse(message) as Record<string, unknown>) });
      return Promise.resolve(1);
    },
  };
  return { redis: redis as unknown as Redis, sent };
}

function publisher(redis: Redis, heartbeatMs = 1000) {
  const clock = new ManualClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const bus = new BusPublisher({ redis, channel: 'ch', src: 'main', heartbeatMs, clock, logger });
  return { bus, clock, lines };
}

describe('BusPublisher: sequence numbers', () => {
  it('names its source and channel', () => {
    const { bus } = publisher(fakeRedis().redis);
    expect([bus.src, bus.channel]).toEqual(['main', 'ch']);
  });

  it('a round numbers its messages after the last acknowledged seq; acked() advances it', () => {
    const { redis } = fakeRedis();
    const { bus } = publisher(redis);
    expect(JSON.parse(bus.encode(1, { keys: ['a'], pos: 'f:4' }))).toEqual({
      v: 1,
      src: 'main',
      seq: 1,
      keys: ['a'],
      pos: 'f:4',
    });
    expect(seqOf(bus.encode(2, { keys: ['b'] }))).toBe(2);
    expect(bus.seq).toBe(0); // nothing acknowledged yet
    bus.acked(2);
    expect(bus.seq).toBe(2);
    expect(bus.publishes).toBe(2);
    // A retried round would be encoded with the same numbers: nothing moved.
    expect(seqOf(bus.encode(1, { keys: ['c'] }))).toBe(3);
  });

  it('publish() takes its number when queued, so concurrent calls go out in order', async () => {
    const { redis, sent } = fakeRedis();
    const { bus } = publisher(redis);
    await Promise.all([bus.publish({ keys: ['a'] }), bus.publish({ keys: ['b'] })]);
    expect(sent.map((m) => [m.seq, m.keys])).toEqual([
      [1, ['a']],
      [2, ['b']],
    ]);
    expect(sent.every((m) => m.channel === 'ch' && m.src === 'main')).toBe(true);
    expect(bus.seq).toBe(2);
    expect(bus.publishes).toBe(2);
  });

  it('a failed publish() rejects and leaves its number used (a gap: subscribers reset, safe)', async () => {
    const { redis } = fakeRedis(true);
    const { bus } = publisher(redis);
    await expect(bus.publish({ keys: ['a'] })).rejects.toThrow('down');
    expect(bus.seq).toBe(1);
    expect(bus.publishes).toBe(0);
  });
});

describe('BusPublisher: heartbeats', () => {
  it('every heartbeatMs, repeating the last acknowledged seq, until stopped', async () => {
    const { redis, sent } = fakeRedis();
    const { bus, clock } = publisher(redis, 1000);
    bus.start();
    bus.start(); // idempotent: one timer
    expect(clock.pending).toBe(1);
    clock.advance(999);
    expect(sent).toEqual([]);
    clock.advance(1);
    bus.encode(1, { keys: ['x'] }); // in flight, not acknowledged: not announced by a heartbeat
    expect(sent).toEqual([{ channel: 'ch', v: 1, src: 'main', seq: 0, type: 'hb' }]);
    bus.acked(1);
    clock.advance(1000);
    expect(sent.at(-1)).toEqual({ channel: 'ch', v: 1, src: 'main', seq: 1, type: 'hb' });
    expect(sent).toHaveLength(2);
    bus.stop();
    bus.stop();
    clock.advance(5000);
    expect(sent).toHaveLength(2);
    expect(clock.pending).toBe(0);
    await Promise.resolve();
  });

  it('heartbeats carry the acknowledged watermark once there is one', () => {
    const { redis, sent } = fakeRedis();
    const { bus, clock } = publisher(redis, 1000);
    bus.start();
    clock.advance(1000);
    bus.acknowledged({ pos: 'binlog.000002:900', gtid: '0-1-77' });
    clock.advance(1000);
    expect(sent).toEqual([
      { channel: 'ch', v: 1, src: 'main', seq: 0, type: 'hb' },
      {
        channel: 'ch',
        v: 1,
        src: 'main',
        seq: 0,
        type: 'hb',
        pos: 'binlog.000002:900',
        gtid: '0-1-77',
      },
    ]);
    bus.stop();
  });

  it('restart() (a re-stream after a Redis failover) starts the seq over and drops the watermark', () => {
    const { redis, sent } = fakeRedis();
    const { bus, clock } = publisher(redis, 1000);
    bus.start();
    bus.acked(5);
    bus.acknowledged({ pos: 'binlog.000002:900' });
    bus.restart();
    clock.advance(1000);
    // No watermark to vouch for deletes the new primary may lack; seq 0.
    expect(sent).toEqual([{ channel: 'ch', v: 1, src: 'main', seq: 0, type: 'hb' }]);
    // The next message is seq 1, below the 5 subscribers saw: a publisher restart.
    expect(seqOf(bus.encode(1, { keys: ['a'] }))).toBe(1);
    expect(bus.publishes).toBe(5);
    bus.stop();
  });

  it('no heartbeat when heartbeatMs is 0 (replays, jobs)', () => {
    const { redis } = fakeRedis();
    const { bus, clock } = publisher(redis, 0);
    bus.start();
    expect(clock.pending).toBe(0);
  });

  it('a failed heartbeat is swallowed and logged at debug (Redis down is reported by the transport)', async () => {
    const { redis } = fakeRedis(true);
    const { bus, clock, lines } = publisher(redis, 10);
    bus.start();
    clock.advance(10);
    await new Promise((r) => setImmediate(r)); // an unhandled rejection would fail the run
    expect(bus.seq).toBe(0);
    expect(lines).toMatchObject([
      { level: 20, component: 'bus', err: 'down', msg: 'heartbeat publish failed' },
    ]);
  });
});
