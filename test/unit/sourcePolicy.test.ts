import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { parseStartFrom, SourcePolicy } from '../../src/pipeline/policies/sourcePolicy.js';
import { position } from '../../src/pipeline/position.js';
import type { ServerChange, StartPoint } from '../../src/pipeline/source/BinlogSource.js';
import { thrown } from '../helpers/errors.js';
import { capturedLogger, logFields } from '../helpers/logs.js';

describe('parseStartFrom', () => {
  it('end, gtid:SET and FILE:POS are start points; checkpoint defers to the stored one', () => {
    expect(parseStartFrom('end')).toEqual({ kind: 'end' });
    expect(parseStartFrom('gtid:0-1-42')).toEqual({ kind: 'gtid', gtid: '0-1-42' });
    expect(parseStartFrom('binlog.000003:1234')).toEqual({
      kind: 'position',
      position: position('binlog.000003', 1234),
    });
    expect(parseStartFrom('checkpoint')).toBeNull();
  });

  it('a malformed value names source.startFrom', () => {
    const err = thrown(() => parseStartFrom('binlog.000003'));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toContain('source.startFrom');
    expect(thrown(() => parseStartFrom('gtid:x-y')).message).toContain('source.startFrom');
  });
});

type Flush = { patterns: readonly string[]; flushAll: boolean; boundary: Checkpoint | null };

function setup(
  o: {
    startFrom?: string;
    onPositionLost?: 'fail' | 'flush';
    onSourceChanged?: 'fail' | 'flush';
    stored?: Checkpoint | null;
    stopping?: boolean;
  } = {},
) {
  const seeded: Checkpoint[] = [];
  const flushes: Flush[] = [];
  const restarts: StartPoint[] = [];
  const failed: SluiceError[] = [];
  let followed = 0;
  const { logger, lines } = capturedLogger('info');
  const policy = new SourcePolicy({
    startFrom: o.startFrom ?? 'checkpoint',
    onPositionLost: o.onPositionLost ?? 'fail',
    onSourceChanged: o.onSourceChanged ?? 'fail',
    mapper: { patternsOf: () => ['user:*', 'email:*', 'order:*'] },
    checkpoints: { key: 'sluice:checkpoint:test', read: () => Promise.resolve(o.stored ?? null) },
    delivery: {
      writer: { seed: (cp) => seeded.push(cp) },
      batcher: {
        flush: (patterns, flushAll, boundary) => flushes.push({ patterns, flushAll, boundary }),
      },
    },
    restart: (from) => restarts.push(from),
    stopping: () => o.stopping ?? false,
    fail: (err) => failed.push(err),
    followed: () => followed++,
    log: logger,
  });
  /** What operators read: [message, fields] per line. */
  const logged = (): Array<[unknown, Record<string, unknown>]> =>
    logFields(lines).map(({ msg, level: _level, ...fields }) => [msg, fields]);
  return { policy, seeded, flushes, restarts, failed, followed: () => followed, logged };
}

const MARIA_1 = { kind: 'mariadb', serverId: 1, domainId: 0 } as const;
const MARIA_2 = { kind: 'mariadb', serverId: 2, domainId: 0 } as const;
const stored: Checkpoint = {
  position: position('binlog.000002', 900),
  gtid: '0-1-10',
  server: MARIA_1,
};

function change(gtidState: string): ServerChange {
  return {
    reason: 'identity',
    host: 'db2:3306',
    from: { kind: 'position', position: stored.position, gtid: '0-1-10', server: MARIA_1 },
    now: { identity: MARIA_2, readOnly: false, gtidState, gtidHead: '0-2-3' },
  };
}
const lost = (): SluiceError => new SluiceError('E_POSITION_LOST', 'binlog.000002 was purged');

describe('SourcePolicy', () => {
  it('resumes from the stored checkpoint, seeding the writer; it becomes the start point', async () => {
    const { policy, seeded, logged } = setup({ stored });
    expect(policy.startPoint).toEqual({ kind: 'end' });
    const from = await policy.resolveStart();
    expect(logged()).toEqual([
      ['resuming from checkpoint', { checkpoint: 'binlog.000002:900', gtid: '0-1-10' }],
    ]);
    expect(from).toEqual({
      kind: 'position',
      position: stored.position,
      gtid: '0-1-10',
      server: MARIA_1,
    });
    expect(seeded).toEqual([stored]);
    expect(policy.startPoint).toEqual(from);
  });

  it('without a stored checkpoint starts at the end, which the first connection resolves', async () => {
    const { policy, seeded, logged } = setup();
    expect(await policy.resolveStart()).toEqual({ kind: 'end' });
    expect(seeded).toEqual([]);
    expect(logged()).toEqual([
      [
        'no checkpoint stored: starting from the current end of the binlog',
        { key: 'sluice:checkpoint:test' },
      ],
    ]);
    policy.onConnected(null);
    expect(policy.startPoint).toEqual({ kind: 'end' });
    policy.onConnected(position('binlog.000004', 4));
    expect(policy.startPoint).toEqual({ kind: 'position', position: position('binlog.000004', 4) });
    // A position once known stays.
    policy.onConnected(position('binlog.000005', 4));
    expect(policy.startPoint).toEqual({ kind: 'position', position: position('binlog.000004', 4) });
  });

  it('a configured start point does not read the checkpoint', async () => {
    const { policy, seeded } = setup({ startFrom: 'gtid:0-1-5', stored });
    expect(await policy.resolveStart()).toEqual({ kind: 'gtid', gtid: '0-1-5' });
    expect(seeded).toEqual([]);
  });

  it('a lost position stops the daemon (onPositionLost: fail)', () => {
    const { policy, failed, flushes, restarts } = setup();
    policy.onPositionLost(lost());
    expect(failed.map((e) => e.code)).toEqual(['E_POSITION_LOST']);
    expect(flushes).toEqual([]);
    expect(restarts).toEqual([]);
  });

  it('a lost position flushes every mapped key space and continues from the end (flush)', () => {
    const { policy, failed, flushes, restarts, logged } = setup({ onPositionLost: 'flush' });
    policy.onPositionLost(lost());
    expect(failed).toEqual([]);
    expect(logged()).toEqual([
      [
        'checkpoint lost: flushing every mapped key space and continuing from the current end (onPositionLost: flush)',
        {
          code: 'E_POSITION_LOST',
          err: 'binlog.000002 was purged',
          patterns: ['user:*', 'email:*', 'order:*'],
        },
      ],
    ]);
    expect(flushes).toEqual([
      { patterns: ['user:*', 'email:*', 'order:*'], flushAll: true, boundary: null },
    ]);
    expect(restarts).toEqual([{ kind: 'end' }]);
  });

  it('nothing is decided once the daemon is stopping', () => {
    const { policy, failed, flushes, restarts } = setup({
      onPositionLost: 'flush',
      stopping: true,
    });
    policy.onPositionLost(lost());
    policy.onSourceChanged(change('0-1-10,0-2-3'));
    expect([failed, flushes, restarts]).toEqual([[], [], []]);
  });

  it('another server holding the checkpoint GTIDs: resets L1 in order and follows by GTID', () => {
    const { policy, flushes, restarts, followed } = setup();
    policy.onSourceChanged(change('0-1-10'));
    expect(followed()).toBe(1);
    expect(flushes).toEqual([{ patterns: [], flushAll: true, boundary: null }]);
    expect(restarts).toEqual([{ kind: 'gtid', gtid: '0-1-10' }]);
  });

  it('another server lacking them: E_SOURCE_CHANGED stops (fail) or flushes from its end (flush)', () => {
    const lacking = change('0-1-9');
    const failing = setup();
    failing.policy.onSourceChanged(lacking);
    expect(failing.failed.map((e) => e.code)).toEqual(['E_SOURCE_CHANGED']);
    expect(failing.restarts).toEqual([]);
    const flushing = setup({ onSourceChanged: 'flush' });
    flushing.policy.onSourceChanged(lacking);
    expect(flushing.failed).toEqual([]);
    expect(flushing.flushes).toEqual([
      { patterns: ['user:*', 'email:*', 'order:*'], flushAll: true, boundary: null },
    ]);
    expect(flushing.restarts).toEqual([{ kind: 'end' }]);
    expect(flushing.followed()).toBe(0);
    const [line] = flushing.logged();
    expect(line?.[0]).toBe(
      'source server changed: flushing every mapped key space and continuing from its current end (onSourceChanged: flush)',
    );
    expect(line?.[1]).toMatchObject({
      code: 'E_SOURCE_CHANGED',
      previous: 'mariadb server_id 1 (domain 0)',
      now: 'mariadb server_id 2 (domain 0)',
      patterns: ['user:*', 'email:*', 'order:*'],
    });
  });
});
