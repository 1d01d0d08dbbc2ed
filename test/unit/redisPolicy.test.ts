import { describe, expect, it } from 'vitest';
import type { SluiceError } from '../../src/errors/index.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { identityText, type PrimaryIdentity } from '../../src/pipeline/checkpoint/PrimaryWatch.js';
import {
  announceTarget,
  reachedTarget,
  RedisPolicy,
} from '../../src/pipeline/policies/redisPolicy.js';
import { formatPosition, position, type BinlogPosition } from '../../src/pipeline/position.js';
import type { StartPoint } from '../../src/pipeline/source/BinlogSource.js';
import { capturedLogger } from '../helpers/logs.js';
import { ManualClock } from '../helpers/manualClock.js';

/** Lets pending promise chains run (a macrotask drains every microtask). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const at = (pos: number): BinlogPosition => position('binlog.000001', pos);
const cpAt = (pos: number): Checkpoint => ({ position: at(pos), gtid: undefined });
const PRIMARY: PrimaryIdentity = { role: 'master', runId: 'b', replid: 'r2' };

describe('re-stream announcement rules', () => {
  it('announces at the read position when the stream re-reads up to it, else at once', () => {
    expect(announceTarget(at(500), cpAt(300))).toEqual(at(500));
    expect(announceTarget(at(500), null)).toEqual(at(500));
    expect(announceTarget(at(300), cpAt(300))).toBeNull();
    expect(announceTarget(at(200), cpAt(300))).toBeNull();
    expect(announceTarget(null, cpAt(300))).toBeNull();
  });

  it('the target is reached at or past it, or when caught up', () => {
    expect(reachedTarget(at(499), at(500))).toBe(false);
    expect(reachedTarget(at(500), at(500))).toBe(true);
    expect(reachedTarget(at(501), at(500))).toBe(true);
    expect(reachedTarget(null, at(500))).toBe(true);
  });
});

function setup(
  o: {
    confirm?: () => Promise<boolean>;
    readPosition?: BinlogPosition | null;
    stored?: Checkpoint | null;
    onPrimary?: Checkpoint | null;
    adopt?: () => Promise<PrimaryIdentity>;
    dropStream?: () => Promise<void>;
  } = {},
) {
  const clock = new ManualClock();
  const calls: string[] = [];
  const restarts: StartPoint[] = [];
  const rebuilds: Array<Checkpoint | null> = [];
  const failed: SluiceError[] = [];
  const { logger, lines: logs } = capturedLogger();
  const state = { streaming: true, stopping: false, readPosition: o.readPosition ?? at(500) };
  const policy = new RedisPolicy({
    confirm: o.confirm,
    stopping: () => state.stopping,
    streaming: () => state.streaming,
    readPosition: () => state.readPosition,
    dropStream: () => {
      if (o.dropStream) return o.dropStream();
      calls.push('drop');
      state.streaming = false;
      return Promise.resolve();
    },
    delivery: {
      writer: { stored: o.stored === undefined ? cpAt(400) : o.stored },
      batcher: {
        flush: (patterns, flushAll, boundary) => {
          expect([flushAll, boundary]).toEqual([true, null]);
          calls.push(patterns.length === 0 ? 'reset' : `flush ${patterns.join(' ')}`);
        },
      },
      halt: () => calls.push('halt'),
      rebuild: (from) => {
        calls.push('rebuild');
        rebuilds.push(from);
      },
    },
    adopt:
      o.adopt ??
      (() => {
        calls.push('adopt');
        return Promise.resolve(PRIMARY);
      }),
    readCheckpoint: () => {
      calls.push('read');
      return Promise.resolve(o.onPrimary === undefined ? cpAt(300) : o.onPrimary);
    },
    startPoint: () => ({ kind: 'position', position: at(4) }),
    patterns: () => ['user:*', 'order:*'],
    restart: (from) => {
      calls.push('restart');
      restarts.push(from);
      state.streaming = true;
    },
    restreamed: () => calls.push('count'),
    fail: (err) => failed.push(err),
    clock,
    log: logger,
  });
  return { policy, clock, calls, restarts, rebuilds, failed, state, logs };
}

describe('RedisPolicy.onFenced', () => {
  it('without a leadership check the write is not retried', async () => {
    expect(await setup().policy.onFenced()).toBe(false);
  });

  it('retries while this instance still leads, and when the check itself fails', async () => {
    expect(await setup({ confirm: () => Promise.resolve(true) }).policy.onFenced()).toBe(true);
    expect(await setup({ confirm: () => Promise.resolve(false) }).policy.onFenced()).toBe(false);
    const down = setup({ confirm: () => Promise.reject(new Error('ECONNREFUSED')) });
    expect(await down.policy.onFenced()).toBe(true);
  });
});

describe('RedisPolicy.onRedisPrimaryChanged', () => {
  it('re-streams from the new primary checkpoint, announcing the L1 reset where the stream was', async () => {
    const { policy, calls, restarts, rebuilds, failed, logs } = setup();
    policy.onRedisPrimaryChanged('ready: a:r1 -> b:r2');
    await settle();
    expect(calls).toEqual(['count', 'halt', 'drop', 'adopt', 'read', 'rebuild', 'restart']);
    // What an operator reads: the change with its code, then where the re-stream starts.
    expect(
      logs.map(({ level, code, reason, readPosition, primary, checkpoint, msg }) => ({
        level,
        code,
        reason,
        readPosition,
        primary,
        checkpoint,
        msg,
      })),
    ).toEqual([
      {
        level: 40,
        code: 'E_REDIS_PRIMARY_CHANGED',
        reason: 'ready: a:r1 -> b:r2',
        readPosition: formatPosition(at(500)),
        msg: 'redis primary changed: re-streaming the binlog from the checkpoint stored there',
      },
      {
        level: 30,
        primary: identityText(PRIMARY),
        checkpoint: formatPosition(at(300)),
        msg: 'checkpoint re-read from the new primary',
      },
    ]);
    expect(rebuilds).toEqual([cpAt(300)]);
    expect(restarts).toEqual([{ kind: 'position', position: at(300) }]);
    policy.announceRepairAt(at(450));
    expect(calls.at(-1)).toBe('restart');
    policy.announceRepairAt(at(500));
    expect(calls.at(-1)).toBe('reset');
    expect(logs.at(-1)).toMatchObject({ at: formatPosition(at(500)), msg: 're-stream caught up' });
    // Once.
    policy.announceRepairAt(null);
    expect(calls.filter((c) => c === 'reset')).toHaveLength(1);
    expect(failed).toEqual([]);
  });

  it('no checkpoint there: every mapped key space flushed first, then from the one stored last; none anywhere: from where streaming started', async () => {
    // A replica cut off since before the first checkpoint write may hold
    // keys older than any delete: no position says which, so all go.
    const mine = setup({ onPrimary: null, stored: cpAt(350) });
    mine.policy.onRedisPrimaryChanged('x');
    await settle();
    expect(mine.rebuilds).toEqual([cpAt(350)]);
    expect(mine.calls.slice(-3)).toEqual(['rebuild', 'flush user:* order:*', 'restart']);
    expect(
      mine.logs.filter((l) => l.level === 40).map((l) => [l.checkpoint, l.patterns, l.msg]),
    ).toEqual([
      [
        undefined,
        undefined,
        'redis primary changed: re-streaming the binlog from the checkpoint stored there',
      ],
      [
        formatPosition(at(350)),
        ['user:*', 'order:*'],
        'no checkpoint on the new primary: flushing every mapped key space before re-streaming',
      ],
    ]);
    expect(mine.restarts).toEqual([{ kind: 'position', position: at(350) }]);
    const none = setup({ onPrimary: null, stored: null });
    none.policy.onRedisPrimaryChanged('x');
    await settle();
    expect(none.rebuilds).toEqual([null]);
    expect(none.logs.filter((l) => l.level === 40).map((l) => [l.checkpoint, l.patterns])).toEqual([
      [undefined, undefined],
      [null, ['user:*', 'order:*']],
    ]);
    expect(
      none.logs.find((l) => l.msg === 'checkpoint re-read from the new primary'),
    ).toMatchObject({ checkpoint: null });
    expect(none.restarts).toEqual([{ kind: 'position', position: at(4) }]);
    // Read again from there: the reset waits until the stream is back where it was.
    expect(none.calls.slice(-3)).toEqual(['rebuild', 'flush user:* order:*', 'restart']);
    none.policy.announceRepairAt(null);
    expect(none.calls.at(-1)).toBe('reset');
    expect(none.logs.at(-1)).toMatchObject({ at: 'caught up', msg: 're-stream caught up' });
  });

  it('nothing to read again: the reset goes out at once', async () => {
    const { policy, calls } = setup({ readPosition: at(300) });
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(calls.slice(-3)).toEqual(['rebuild', 'reset', 'restart']);
  });

  it('a change while starting re-streams once streaming has begun', async () => {
    const { policy, calls, state } = setup();
    state.streaming = false;
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(calls).toEqual([]);
    state.streaming = true;
    policy.started();
    await settle();
    await settle();
    expect(calls[0]).toBe('count');
    expect(calls.at(-1)).toBe('restart');
    // Once: the change seen while starting is used up.
    expect(calls.filter((c) => c === 'count')).toHaveLength(1);
    policy.started();
    await settle();
    expect(calls.filter((c) => c === 'count')).toHaveLength(1);
  });

  it('the daemon stopping while the new primary answers: no rebuild, no restart', async () => {
    const { policy, calls, state } = setup({
      adopt: () => {
        state.stopping = true;
        return Promise.resolve(PRIMARY);
      },
    });
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(calls).toEqual(['count', 'halt', 'drop', 'read']);
  });

  it('a change while re-streaming re-streams once more after it', async () => {
    const { policy, calls } = setup();
    policy.onRedisPrimaryChanged('x');
    policy.onRedisPrimaryChanged('y');
    policy.onRedisPrimaryChanged('z');
    await settle();
    await settle();
    expect(calls.filter((c) => c === 'count')).toHaveLength(2);
    expect(calls.filter((c) => c === 'restart')).toHaveLength(2);
  });

  it('retries an unusable primary with backoff, and gives up when the daemon stops', async () => {
    let tries = 0;
    const { policy, clock, calls, state } = setup({
      adopt: () => {
        tries++;
        return Promise.reject(new Error('replica'));
      },
    });
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(tries).toBe(1);
    clock.advance(60_000);
    await settle();
    expect(tries).toBe(2);
    state.stopping = true;
    clock.advance(60_000);
    await settle();
    expect(tries).toBe(2);
    expect(calls).not.toContain('rebuild');
  });

  it('a re-stream that throws stops the daemon with E_INTERNAL', async () => {
    const { policy, failed, calls } = setup({ dropStream: () => Promise.reject(new Error('bug')) });
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(failed.map((e) => [e.code, e.message])).toEqual([
      ['E_INTERNAL', 're-stream failed: Error: bug'],
    ]);
    expect((failed[0]?.cause as Error).message).toBe('bug');
    expect(calls).toEqual(['count', 'halt']);
  });

  it('nothing happens once the daemon is stopping', async () => {
    const { policy, calls, state } = setup();
    state.stopping = true;
    policy.onRedisPrimaryChanged('x');
    await settle();
    expect(calls).toEqual([]);
  });
});
