import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import {
  CHECKPOINT_DELAY_MS,
  CheckpointWriter,
} from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { position } from '../../src/pipeline/position.js';
import { ManualClock } from '../helpers/manualClock.js';

const cp = (pos: number): Checkpoint => ({
  position: position('binlog.000001', pos),
  gtid: '0-1-9',
});

function setup(fence?: { key: string; token: () => number }, primary?: () => string | null) {
  const clock = new ManualClock();
  let due = 0;
  const writer = new CheckpointWriter({
    key: 'sluice:checkpoint:{main}',
    clock,
    onDue: () => due++,
    ...(fence === undefined ? {} : { fence }),
    ...(primary === undefined ? {} : { primary }),
  });
  return { writer, clock, due: () => due };
}

describe('CheckpointWriter: coalescing', () => {
  it('writes once every CHECKPOINT_DELAY_MS under a stream, riding on rounds', () => {
    expect(CHECKPOINT_DELAY_MS).toBe(10);
    const { writer, clock } = setup();
    expect(writer.forRound(false)).toBe(null); // nothing pending
    writer.offer(cp(1));
    const first = writer.forRound(false);
    expect(first?.checkpoint).toEqual(cp(1)); // the first write goes at once
    writer.written(first!);
    writer.offer(cp(2));
    clock.advance(9);
    expect(writer.forRound(false)).toBe(null);
    clock.advance(1);
    expect(writer.forRound(false)?.checkpoint).toEqual(cp(2));
    expect(writer.writes).toBe(1);
  });

  it('a drain (urgent) takes the pending checkpoint at once', () => {
    const { writer } = setup();
    writer.offer(cp(1));
    writer.written(writer.forRound(false)!);
    writer.offer(cp(2));
    expect(writer.forRound(false)).toBe(null);
    expect(writer.wanted(false)).toBe(false);
    expect(writer.wanted(true)).toBe(true);
    expect(writer.forRound(true)?.checkpoint).toEqual(cp(2));
  });

  it('when the stream goes quiet long after the last write, the checkpoint is due exactly delayMs later', () => {
    const { writer, clock, due } = setup();
    writer.offer(cp(1));
    writer.written(writer.forRound(false)!); // at 0
    clock.advance(15);
    writer.offer(cp(2));
    writer.idle(); // at 15
    writer.idle(); // one timer, not two
    expect(clock.pending).toBe(1);
    clock.advance(9);
    expect(due()).toBe(0);
    expect(writer.wanted(false)).toBe(false);
    clock.advance(1); // 25
    expect(due()).toBe(1);
    expect(writer.wanted(false)).toBe(true);
    const w = writer.forRound(false)!;
    writer.written(w);
    expect(writer.wanted(false)).toBe(false); // due is cleared by the write
    expect(writer.pending).toBe(null);
  });

  it('rounds every 3 ms carry the checkpoint: none goes alone', () => {
    // As the dispatcher does at a few hundred transactions a second: a round,
    // then idle(), every 3 ms. Rounds may carry the checkpoint from 10 ms
    // after the last write; the quiet timer must not fire first.
    const { writer, clock, due } = setup();
    writer.offer(cp(1));
    writer.written(writer.forRound(false)!); // the write at 0
    const rode: number[] = [];
    for (let round = 1; round <= 10; round++) {
      writer.offer(cp(round + 1)); // the round before acknowledged a boundary
      writer.idle();
      clock.advance(3);
      const w = writer.forRound(false);
      if (w !== null) {
        rode.push(clock.now());
        writer.written(w);
      }
    }
    expect(due()).toBe(0);
    expect(rode).toEqual([12, 24]); // the first round at or past 10 ms since the last write
    expect(writer.writes).toBe(3);
  });

  it('idle() right after a write: rounds get delayMs to carry it, so it is due 2 × delayMs after the write', () => {
    const { writer, clock, due } = setup();
    writer.offer(cp(1));
    writer.written(writer.forRound(false)!); // at 0
    clock.advance(1);
    writer.offer(cp(2));
    writer.idle(); // at 1: rounds may carry it from 10 on
    clock.advance(18); // 19
    expect(due()).toBe(0);
    expect(writer.wanted(false)).toBe(false);
    clock.advance(1); // 20
    expect(due()).toBe(1);
    expect(writer.wanted(false)).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('a wall clock stepped back does not hold the checkpoint: due at most 2 × delayMs after idle()', () => {
    const { writer, clock, due } = setup();
    clock.advance(1000);
    writer.offer(cp(1));
    writer.written(writer.forRound(false)!); // at 1000
    clock.advance(-500); // NTP steps the clock back: now 500
    writer.offer(cp(2));
    writer.idle();
    expect(writer.forRound(false)).toBe(null); // no round may carry it before 1010 by this clock
    clock.advance(19);
    expect(due()).toBe(0);
    clock.advance(1); // 20 ms after idle()
    expect(due()).toBe(1);
    expect(writer.forRound(false)?.checkpoint).toEqual(cp(2)); // due: written whatever the clock says
  });

  it('idle() with nothing pending arms nothing', () => {
    const { writer, clock } = setup();
    writer.idle();
    expect(clock.pending).toBe(0);
  });

  it('a write clears the quiet timer', () => {
    const { writer, clock, due } = setup();
    writer.offer(cp(1));
    writer.idle();
    writer.written(writer.forRound(true)!);
    clock.advance(100);
    expect(due()).toBe(0);
  });

  it('a newer boundary offered while a write is in flight stays pending after it', () => {
    const { writer } = setup();
    writer.offer(cp(1));
    const w = writer.forRound(false)!;
    writer.offer(cp(2));
    writer.written(w);
    expect(writer.stored).toEqual(cp(1));
    expect(writer.pending).toEqual(cp(2));
  });

  it('close() drops the quiet timer', () => {
    const { writer, clock, due } = setup();
    writer.offer(cp(1));
    writer.idle();
    writer.close();
    clock.advance(100);
    expect(due()).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe('CheckpointWriter: the record and its fence', () => {
  it('encodes the contract record, stamped when encoded', () => {
    const { writer, clock } = setup();
    clock.advance(0);
    writer.offer(cp(42));
    const w = writer.forRound(false)!;
    expect(w.key).toBe('sluice:checkpoint:{main}');
    expect(w.fence).toBe(null);
    const record = JSON.parse(w.json) as Record<string, unknown>;
    expect(record).toMatchObject({ file: 'binlog.000001', pos: 42, gtid: '0-1-9' });
    expect(typeof record.at).toBe('string');
  });

  it("carries the leader's token as it is when the write is built", () => {
    let token = 3;
    const { writer } = setup({ key: 'sluice:fence:{main}', token: () => token });
    writer.offer(cp(1));
    expect(writer.forRound(false)?.fence).toEqual({ key: 'sluice:fence:{main}', token: 3 });
    token = 4;
    expect(writer.forRound(false)?.fence).toEqual({ key: 'sluice:fence:{main}', token: 4 });
  });

  it('carries the Redis primary the acknowledgements came from, as it is when the write is built', () => {
    let primary: string | null = 'run-a:repl-a';
    const { writer } = setup(undefined, () => primary);
    writer.offer(cp(1));
    expect(writer.forRound(false)?.primary).toBe('run-a:repl-a');
    primary = null; // the watch does not know yet: unchecked
    expect(writer.forRound(false)?.primary).toBe(null);
    const unwatched = setup().writer;
    unwatched.offer(cp(1));
    expect(unwatched.forRound(false)?.primary).toBe(null);
  });

  it('seed() reports the stored checkpoint until the first write', () => {
    const { writer } = setup();
    expect(writer.stored).toBe(null);
    writer.seed(cp(7));
    expect(writer.stored).toEqual(cp(7));
    expect(writer.pending).toBe(null);
  });
});
