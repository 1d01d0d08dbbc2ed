import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeHeartbeat, encodeInvalidation } from '../../src/bus/codec.js';
import type { JsonRow } from '../../src/db/rows.js';
import { systemClock } from '../../src/infra/clock.js';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { position, type BinlogPosition } from '../../src/pipeline/position.js';
import { ConsistencyMonitor } from '../../src/verify/ConsistencyMonitor.js';
import type { Observation } from '../../src/verify/compareObservation.js';
import { ResourceMatcher, type VerifyResource } from '../../src/verify/ResourceMatcher.js';
import { capturedLogger } from '../helpers/logs.js';

const CHANNEL = 'sluice:invalidate';
const users: VerifyResource = {
  name: 'users',
  table: 'app.users',
  key: KeyTemplate.parse('user:{id}'),
};
const entry = (row: JsonRow): string => 'v' + JSON.stringify(row);
const at = (pos: number): BinlogPosition => position('binlog.000001', pos);

/**
 * A scripted world: what Redis, the API and the database hold, where the
 * binlog head and the daemon's checkpoint stand. Reads see it as it is at
 * the moment they run; `onRead` lets a test change it after a given read.
 */
class World {
  cached = new Map<string, string>();
  api = new Map<string, { status: number; body: string }>();
  rows = new Map<string, JsonRow>();
  head = at(100);
  checkpoint: BinlogPosition | null = at(100);
  reads = 0;
  onRead: ((n: number) => void) | null = null;
}

function setup(
  options: { sampleRate?: number; maxPending?: number; confirmTimeoutMs?: number } = {},
) {
  const world = new World();
  const bus = Object.assign(new EventEmitter(), {
    subscribe: () => Promise.resolve(1),
    unsubscribe: () => Promise.resolve(0),
  });
  const { logger, lines } = capturedLogger('info');
  const monitor = new ConsistencyMonitor({
    bus,
    channel: CHANNEL,
    resources: [users],
    matcher: new ResourceMatcher([users], [KeyTemplate.parse('user:email:{email}')]),
    probe: {
      read: (_resource, items) => {
        const out: Observation[] = items.map((item) => ({
          key: item.key,
          cached: world.cached.get(item.key) ?? null,
          api: world.api.get(item.key) ?? null,
          row: world.rows.get(item.id) ?? null,
        }));
        world.reads++;
        world.onRead?.(world.reads);
        return Promise.resolve(out);
      },
    },
    progress: {
      head: () => Promise.resolve(world.head),
      checkpoint: () => Promise.resolve(world.checkpoint),
      sync: () => Promise.resolve(),
    },
    windowsMs: [1000, 10_000],
    sampleRate: options.sampleRate ?? 1,
    maxPending: options.maxPending ?? 1000,
    horizonMs: 600_000,
    confirmTimeoutMs: options.confirmTimeoutMs ?? 30_000,
    recheckDelayMs: 200,
    clock: systemClock,
    random: () => 0.5,
    logger,
  });
  const publish = (keys: string[], pos = 'binlog.000001:100'): void => {
    bus.emit('message', CHANNEL, encodeInvalidation('main', 1, { keys, pos }));
  };
  const stale = () => lines.filter((l) => l.msg === 'stale cache entry confirmed');
  return { world, bus, monitor, publish, stale };
}

const OLD = { id: 1, name: 'old' };
const NEW = { id: 1, name: 'new' };

describe('ConsistencyMonitor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('confirms an entry that disagrees with its row after the daemon passed it, and logs key, table, position, age', async () => {
    const { world, monitor, publish, stale } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    publish(['user:1'], 'binlog.000001:90');
    world.cached.set('user:1', entry(OLD)); // planted behind the daemon's back
    await vi.advanceTimersByTimeAsync(1500);
    const w = monitor.windows.get(1000);
    expect(w).toMatchObject({ checks: 1, staleChecks: 1, stale: { l2: 1, api: 0 }, inFlight: 0 });
    expect(world.reads).toBe(2); // the first read and the confirmation
    expect(stale()).toHaveLength(1);
    expect(stale()[0]).toMatchObject({
      key: 'user:1',
      resource: 'users',
      table: 'app.users',
      layers: ['l2'],
      window: '1s',
      pos: 'binlog.000001:90',
    });
    expect(stale()[0]?.ageMs).toBeGreaterThanOrEqual(1200);
    expect(monitor.tally.recent(1000)).toEqual({ checks: 1, stale: 1 });
    await monitor.close();
  });

  it('counts an entry that agrees, or no entry at all, as consistent', async () => {
    const { world, monitor, publish } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.cached.set('user:1', entry({ name: 'new', id: 1 })); // key order does not matter
    publish(['user:1', 'user:2']);
    await vi.advanceTimersByTimeAsync(10_500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 2, staleChecks: 0, inFlight: 0 });
    expect(monitor.windows.get(10_000)).toMatchObject({ checks: 2, staleChecks: 0 });
    expect(world.reads).toBe(2); // one batch per window, no confirmation
    await monitor.close();
  });

  it('waits for the checkpoint to pass the head: a write the daemon has not invalidated yet is in flight', async () => {
    const { world, monitor, publish, stale } = setup();
    await monitor.start();
    world.rows.set('1', OLD);
    world.cached.set('user:1', entry(OLD));
    publish(['user:1']);
    // A write commits; the daemon has not read it yet.
    world.rows.set('1', NEW);
    world.head = at(200);
    await vi.advanceTimersByTimeAsync(1100);
    expect(world.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(2000); // the daemon is still behind
    expect(world.reads).toBe(1);
    // It catches up: UNLINK, PUBLISH, checkpoint.
    world.cached.delete('user:1');
    publish(['user:1'], 'binlog.000001:200');
    world.checkpoint = at(200);
    await vi.advanceTimersByTimeAsync(500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 1, staleChecks: 0, inFlight: 1 });
    expect(stale()).toEqual([]);
    await monitor.close();
  });

  it('an invalidation of the key after the first read makes it in flight, whatever the second read sees', async () => {
    const { world, monitor, publish, bus } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.cached.set('user:1', entry(OLD));
    publish(['user:1']);
    world.onRead = (n) => {
      if (n === 1)
        bus.emit('message', CHANNEL, encodeInvalidation('main', 2, { keys: ['user:1'] }));
    };
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 1, staleChecks: 0, inFlight: 1 });
    await monitor.close();
  });

  it('a lost subscription while a mismatch is confirmed makes it in flight (its invalidation may be missed)', async () => {
    const { world, monitor, publish, bus } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.cached.set('user:1', entry(OLD));
    publish(['user:1']);
    world.onRead = (n) => {
      if (n === 1) bus.emit('close');
    };
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 1, staleChecks: 0, inFlight: 1 });
    await monitor.close();
  });

  it('a pattern or a full flush covering the key counts as its invalidation', async () => {
    const { world, monitor, publish, bus } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.rows.set('2', { id: 2, name: 'new' });
    world.cached.set('user:1', entry(OLD));
    world.cached.set('user:2', entry({ id: 2, name: 'old' }));
    publish(['user:1', 'user:2']);
    world.onRead = (n) => {
      if (n === 1) {
        bus.emit('message', CHANNEL, encodeInvalidation('main', 2, { patterns: ['user:1*'] }));
        bus.emit('message', CHANNEL, encodeHeartbeat('main', 2)); // not an invalidation
      }
    };
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 2, staleChecks: 1, inFlight: 1 });
    world.onRead = (n) => {
      if (n === 4) bus.emit('message', CHANNEL, encodeInvalidation('main', 3, { flush: true }));
    };
    await vi.advanceTimersByTimeAsync(9000);
    expect(monitor.windows.get(10_000)).toMatchObject({ checks: 2, staleChecks: 0, inFlight: 2 });
    await monitor.close();
  });

  it.each([
    // Its message may still be on the way.
    ['a row', (world: World) => world.rows.set('1', { id: 1, name: 'newer' })],
    ['an entry', (world: World) => world.cached.set('user:1', entry({ id: 1, name: 'older' }))],
  ])('%s that changed between the two reads is in flight', async (_what, change) => {
    const { world, monitor, publish } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.cached.set('user:1', entry(OLD));
    publish(['user:1']);
    world.onRead = (n) => {
      if (n === 1) change(world);
    };
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 1, staleChecks: 0, inFlight: 1 });
    await monitor.close();
  });

  it('leaves a mismatch unconfirmed when the checkpoint does not pass the head in time', async () => {
    const { world, monitor, publish, stale } = setup({ confirmTimeoutMs: 3000 });
    await monitor.start();
    world.rows.set('1', NEW);
    world.cached.set('user:1', entry(OLD));
    world.head = at(500);
    publish(['user:1']);
    await vi.advanceTimersByTimeAsync(3500);
    expect(world.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(monitor.windows.get(1000)).toMatchObject({ checks: 0, unconfirmed: 1, staleChecks: 0 });
    expect(stale()).toEqual([]);
    await monitor.close();
  });

  it('catches a stale answer of the read API (an L1 copy) with no L2 entry', async () => {
    const { world, monitor, publish } = setup();
    await monitor.start();
    world.rows.set('1', NEW);
    world.api.set('user:1', { status: 200, body: JSON.stringify(OLD) });
    publish(['user:1']);
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ staleChecks: 1, stale: { l2: 0, api: 1 } });
    // A 404 for a row that exists is stale too; a 500 is an error, not a verdict.
    world.api.set('user:2', { status: 404, body: '{}' });
    world.rows.set('2', { id: 2 });
    world.api.set('user:3', { status: 500, body: '{}' });
    publish(['user:2', 'user:3']);
    await vi.advanceTimersByTimeAsync(1500);
    expect(monitor.windows.get(1000)).toMatchObject({ staleChecks: 2, errors: 1 });
    await monitor.close();
  });

  it('samples only resource row keys, at the sample rate, and drops what does not fit', async () => {
    const { monitor, publish } = setup({ maxPending: 4 });
    await monitor.start();
    publish(['user:1', 'user:email:a@b', 'chat:1:messages', 'user:2', 'user:3']);
    expect(monitor.stats).toMatchObject({ messages: 1, samples: 2, dropped: 1 });
    expect(monitor.pending).toBe(4);
    const rated = setup({ sampleRate: 0.4 }); // random() is 0.5: nothing sampled
    await rated.monitor.start();
    rated.publish(['user:1']);
    expect(rated.monitor.stats.samples).toBe(0);
    rated.bus.emit('message', CHANNEL, 'not json');
    rated.bus.emit('message', 'other', encodeInvalidation('main', 1, { keys: ['user:1'] }));
    expect(rated.monitor.stats).toMatchObject({ messages: 1, ignored: 1 });
    await monitor.close();
    await rated.monitor.close();
  });
});
