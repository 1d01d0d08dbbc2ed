import { describe, expect, it } from 'vitest';
import { Batcher, STREAM_SHARE, type Item } from '../../src/pipeline/batch/Batcher.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { position } from '../../src/pipeline/position.js';
import { ManualClock } from '../helpers/manualClock.js';

const cp = (pos: number): Checkpoint => ({
  position: position('binlog.000001', pos),
  gtid: undefined,
});

function setup(overrides: Partial<ConstructorParameters<typeof Batcher>[0]> = {}) {
  const clock = new ManualClock();
  const signals: boolean[] = [];
  let ready = 0;
  const batcher = new Batcher({
    batchMaxKeys: 100,
    batchMaxDelayMs: 5,
    maxInFlightKeys: 1000,
    roundMaxKeys: 10_000,
    oneItemPerRound: false,
    clock,
    onReady: () => ready++,
    onBackpressure: (pause) => signals.push(pause),
    ...overrides,
  });
  return { batcher, clock, signals, ready: () => ready };
}

const keysOf = (round: readonly Item[]): string[][] =>
  round.map((i) => (i.kind === 'keys' ? [...i.keys] : [i.kind]));
const keys = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('Batcher: when a batch is sealed', () => {
  it('a lone transaction is sealed at its commit, with its boundary, no delay', () => {
    const { batcher, clock, ready } = setup();
    batcher.add(['a', 'b']);
    expect(batcher.hasQueued).toBe(false);
    batcher.commit(cp(10));
    expect(ready()).toBe(1);
    expect(clock.pending).toBe(0); // no delay timer left behind
    const round = batcher.take();
    expect(round).toHaveLength(1);
    expect(round[0]).toMatchObject({ kind: 'keys', boundary: cp(10) });
    expect(keysOf(round)).toEqual([['a', 'b']]);
  });

  it('keys wait for their commit: no timer, however long, then sealed with its boundary', () => {
    const { batcher, clock, ready } = setup();
    batcher.add(['a']);
    batcher.add(['b']);
    expect(clock.pending).toBe(0);
    clock.advance(1000);
    expect(batcher.hasQueued).toBe(false);
    expect(ready()).toBe(0);
    batcher.commit(cp(3));
    const round = batcher.take();
    expect(keysOf(round)).toEqual([['a', 'b']]);
    expect(round[0]?.boundary).toEqual(cp(3));
  });

  it('groupEnd(): the keys of a group without a checkpoint (XA END, a replay) wait exactly batchMaxDelayMs, sealed without a boundary; nothing open, no timer', () => {
    const { batcher, clock, ready } = setup();
    batcher.groupEnd();
    expect(clock.pending).toBe(0);
    batcher.add(['xa']);
    batcher.groupEnd();
    expect(clock.pending).toBe(1);
    clock.advance(4);
    expect(batcher.hasQueued).toBe(false);
    clock.advance(1);
    expect(ready()).toBe(1);
    const round = batcher.take();
    expect(keysOf(round)).toEqual([['xa']]);
    expect(round[0]?.boundary).toBe(null);
  });

  it('caughtUp(): keys that no commit followed are sealed without a boundary; nothing open, nothing sealed', () => {
    const { batcher, ready } = setup();
    batcher.caughtUp();
    expect(ready()).toBe(0);
    expect(batcher.hasQueued).toBe(false);
    batcher.add(['xa']); // rows whose group's end the source did not recognise
    batcher.caughtUp();
    expect(ready()).toBe(1);
    const round = batcher.take();
    expect(keysOf(round)).toEqual([['xa']]);
    expect(round[0]?.boundary).toBe(null);
  });

  it('during a drain, keys without a commit wait batchMaxDelayMs at most', () => {
    const { batcher, clock } = setup();
    batcher.hurry();
    batcher.add(['a']);
    expect(clock.pending).toBe(1);
    clock.advance(4);
    expect(batcher.hasQueued).toBe(false);
    clock.advance(1);
    expect(keysOf(batcher.take())).toEqual([['a']]);
  });

  it('while streaming, keys wait batchMaxDelayMs from their commit, not from their rows', () => {
    const { batcher, clock } = setup();
    batcher.add(['x']);
    batcher.commit(cp(0));
    batcher.take(); // in flight
    for (let i = 1; i <= 6; i++) {
      batcher.add([`k${i}`]);
      batcher.commit(cp(i)); // shared: the share reaches 0.469
    }
    batcher.done(); // streaming: the gathered batch waits on its timer
    clock.advance(5);
    expect(keysOf(batcher.take())).toEqual([['k1', 'k2', 'k3', 'k4', 'k5', 'k6']]);
    batcher.done();
    batcher.add(['r']);
    clock.advance(3); // rows read 3 ms before their commit
    expect(clock.pending).toBe(0);
    batcher.commit(cp(7)); // not shared (0.422), still streaming: waits, from now
    clock.advance(4);
    expect(batcher.hasQueued).toBe(false);
    clock.advance(1);
    expect(keysOf(batcher.take())).toEqual([['r']]);
  });

  it('a batch is sealed when it reaches batchMaxKeys, not one key before', () => {
    const { batcher } = setup({ batchMaxKeys: 3 });
    batcher.add(['a', 'b']);
    expect(batcher.hasQueued).toBe(false);
    batcher.add(['c']);
    expect(batcher.hasQueued).toBe(true);
    expect(keysOf(batcher.take())).toEqual([['a', 'b', 'c']]);
  });

  it('keys are de-duplicated within a batch', () => {
    const { batcher } = setup();
    batcher.add(['a', 'b']);
    batcher.add(['b', 'a', 'c']);
    batcher.commit(cp(1));
    expect(keysOf(batcher.take())).toEqual([['a', 'b', 'c']]);
    expect(batcher.inFlightKeys).toBe(3);
  });

  it('a commit without keys is not sealed at once but carried by the next batch or the delay', () => {
    const { batcher, clock } = setup();
    batcher.commit(cp(7));
    expect(batcher.hasQueued).toBe(false);
    clock.advance(5);
    const round = batcher.take();
    expect(round).toHaveLength(1);
    expect(round[0]).toMatchObject({ kind: 'keys', boundary: cp(7) });
    expect(keysOf(round)).toEqual([[]]);
  });

  it('while a round is in flight a commit waits; when the round is done it goes out (not streaming)', () => {
    const { batcher, clock } = setup();
    batcher.add(['a']);
    batcher.commit(cp(1));
    expect(keysOf(batcher.take())).toEqual([['a']]);
    batcher.add(['b']);
    batcher.commit(cp(2));
    expect(clock.pending).toBe(0); // no timer while a round is in flight
    expect(batcher.inFlightKeys).toBe(2);
    batcher.done();
    expect(batcher.inFlightKeys).toBe(1);
    const round = batcher.take();
    expect(keysOf(round)).toEqual([['b']]);
    expect(round[0]?.boundary).toEqual(cp(2));
  });

  it('streaming: once enough commits found a round in flight, commits wait up to the delay and share a batch', () => {
    const { batcher, clock } = setup();
    // Commits arriving while a round is in flight raise the share by 0.1 × (1 − share) each.
    batcher.add(['k0']);
    batcher.commit(cp(0));
    batcher.take();
    let share = 0;
    let i = 1;
    while (share < STREAM_SHARE) {
      batcher.add([`k${i}`]);
      batcher.commit(cp(i));
      share = share * 0.9 + 0.1;
      i++;
    }
    batcher.done(); // streaming now: what gathered waits for company
    expect(batcher.hasQueued).toBe(false);
    batcher.add(['late']);
    batcher.commit(cp(100));
    expect(batcher.hasQueued).toBe(false);
    clock.advance(4);
    expect(batcher.hasQueued).toBe(false);
    clock.advance(1);
    const round = batcher.take();
    expect(keysOf(round)).toEqual([[...keys('k', i).slice(1), 'late']]);
    expect(round[0]?.boundary).toEqual(cp(100));
  });

  it('streaming needs a share of STREAM_SHARE: two overlapping commits are not enough', () => {
    const { batcher } = setup();
    batcher.add(['k0']);
    batcher.commit(cp(0));
    batcher.take();
    batcher.add(['k1']);
    batcher.commit(cp(1)); // share 0.1
    batcher.add(['k2']);
    batcher.commit(cp(2)); // share 0.19
    batcher.done();
    expect(keysOf(batcher.take())).toEqual([['k1', 'k2']]);
    batcher.done();
    batcher.add(['k3']);
    batcher.commit(cp(3)); // no round in flight, nothing waiting: share falls, sealed at once
    expect(batcher.hasQueued).toBe(true);
  });

  it('a transaction already waiting in the open batch also counts as sharing', () => {
    const { batcher, clock } = setup();
    batcher.add(['x']);
    batcher.commit(cp(1)); // sealed at once: share 0
    batcher.take();
    for (let i = 2; i < 5; i++) {
      batcher.add([`y${i}`]);
      batcher.commit(cp(i)); // in flight: shared; three of them: share 0.271
    }
    batcher.done();
    expect(batcher.hasQueued).toBe(false); // streaming: armed
    batcher.add(['z']);
    // Nothing in flight, but y2..y4 wait in the open batch: shared (0.344). Not
    // counted, the share would fall to 0.244 and z would be sealed at once.
    batcher.commit(cp(9));
    expect(batcher.hasQueued).toBe(false);
    clock.advance(5);
    expect(keysOf(batcher.take())).toEqual([['y2', 'y3', 'y4', 'z']]);
  });

  it('hurry() seals at once and, until relax(), after every round even while streaming', () => {
    const { batcher, clock } = setup();
    batcher.add(['k0']);
    batcher.commit(cp(0));
    batcher.take();
    for (let i = 1; i < 5; i++) {
      batcher.add([`k${i}`]);
      batcher.commit(cp(i));
    }
    batcher.hurry();
    batcher.done();
    expect(keysOf(batcher.take())).toEqual([['k1', 'k2', 'k3', 'k4']]);
    batcher.done();
    batcher.relax();
    batcher.add(['open']);
    batcher.hurry();
    expect(keysOf(batcher.take())).toEqual([['open']]);
    expect(clock.pending).toBe(0);
  });
});

describe('Batcher: rounds', () => {
  it('a round carries queued key batches up to roundMaxKeys, in order', () => {
    const { batcher } = setup({ roundMaxKeys: 5, batchMaxKeys: 3 });
    batcher.add(['a', 'b', 'c']); // sealed (3)
    batcher.add(['d', 'e']);
    batcher.commit(cp(1)); // sealed at once? a round is not in flight yet: yes (2)
    batcher.add(['f', 'g', 'h']); // sealed (3)
    expect(keysOf(batcher.take())).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    batcher.done();
    expect(keysOf(batcher.take())).toEqual([['f', 'g', 'h']]);
  });

  it('a flush or a barrier travels alone, in order with the batches', () => {
    const { batcher } = setup();
    batcher.add(['a']);
    batcher.flush(['user:*'], false, cp(2)); // seals 'a' first
    batcher.add(['b']);
    batcher.barrier(() => Promise.resolve({ action: 'pass' }), cp(3));
    batcher.add(['c']);
    batcher.commit(cp(4));
    const rounds: string[][][] = [];
    for (let r = batcher.take(); r.length > 0; r = batcher.take()) {
      rounds.push(keysOf(r));
      batcher.done();
    }
    expect(rounds).toEqual([[['a']], [['patterns']], [['b']], [['barrier']], [['c']]]);
  });

  it('a flush after a key batch: the batch first, the flush in the next round', () => {
    const { batcher } = setup();
    batcher.add(['a']);
    batcher.commit(cp(1));
    batcher.flush(['t:*'], true, null);
    const first = batcher.take();
    expect(keysOf(first)).toEqual([['a']]);
    batcher.done();
    const second = batcher.take();
    expect(second[0]).toMatchObject({ kind: 'patterns', patterns: ['t:*'], flushAll: true });
  });

  it('on a cluster a round holds one item', () => {
    const { batcher } = setup({ oneItemPerRound: true, batchMaxKeys: 1 });
    batcher.add(['a']);
    batcher.add(['b']);
    expect(keysOf(batcher.take())).toEqual([['a']]);
    batcher.done();
    expect(keysOf(batcher.take())).toEqual([['b']]);
  });

  it('items get increasing ids in binlog order', () => {
    const { batcher } = setup({ batchMaxKeys: 1 });
    batcher.add(['a']);
    batcher.flush(['p'], false, null);
    batcher.add(['b']);
    const ids: number[] = [];
    for (let r = batcher.take(); r.length > 0; r = batcher.take()) {
      ids.push(...r.map((i) => i.id));
      batcher.done();
    }
    expect(ids).toEqual([1, 2, 3]);
  });

  it('one round at a time', () => {
    const { batcher } = setup();
    batcher.add(['a']);
    batcher.commit(cp(1));
    batcher.take();
    expect(() => batcher.take()).toThrow(/already in flight/);
  });

  it('idle only when nothing is open, queued or in flight', () => {
    const { batcher } = setup();
    expect(batcher.idle).toBe(true);
    batcher.add(['a']);
    expect(batcher.idle).toBe(false);
    batcher.commit(cp(1));
    batcher.take();
    expect(batcher.idle).toBe(false);
    batcher.done();
    expect(batcher.idle).toBe(true);
    batcher.commit(cp(2)); // a boundary alone is work too
    expect(batcher.idle).toBe(false);
  });

  it('abandon() drops the delay timer and the round in flight', () => {
    const { batcher, clock } = setup();
    batcher.commit(cp(1)); // a boundary alone: waits on the timer
    expect(clock.pending).toBe(1);
    batcher.abandon();
    expect(clock.pending).toBe(0);
    batcher.add(['a']);
    batcher.commit(cp(2));
    expect(keysOf(batcher.take())).toEqual([['a']]); // in flight
    batcher.abandon();
    expect(() => batcher.take()).not.toThrow(); // no round in flight any more
  });
});

describe('Batcher: backpressure (rule 4)', () => {
  it('pauses above maxInFlightKeys, resumes at half, signals each change once', () => {
    const { batcher, signals } = setup({ maxInFlightKeys: 4, batchMaxKeys: 2, roundMaxKeys: 2 });
    batcher.add(['a', 'b']); // 2 queued
    batcher.add(['c', 'd']); // 4 queued: not above
    expect(signals).toEqual([]);
    batcher.add(['e', 'f']); // 6 > 4
    expect(signals).toEqual([true]);
    expect(batcher.pausing).toBe(true);
    batcher.add(['g', 'h']); // still paused: no second signal
    expect(signals).toEqual([true]);
    batcher.take();
    batcher.done(); // 6 left: > 2
    expect(signals).toEqual([true]);
    batcher.take();
    batcher.done(); // 4 left: > 2
    batcher.take();
    batcher.done(); // 2 left: ≤ half
    expect(signals).toEqual([true, false]);
    expect(batcher.pausing).toBe(false);
  });

  it('the open batch counts as in flight', () => {
    const { batcher, signals } = setup({ maxInFlightKeys: 3, batchMaxKeys: 100 });
    batcher.add(['a', 'b', 'c']);
    batcher.commit(cp(1)); // sealed: 3, not above
    batcher.take();
    batcher.add(['d']); // open: 1 + queued 3 = 4, checked when sealed or a round ends
    expect(batcher.inFlightKeys).toBe(4);
    batcher.flush(['x'], false, null); // seals 'd': 4 > 3
    expect(signals).toEqual([true]);
  });
});

describe('Batcher: the streaming share', () => {
  /** A round in flight and `n` one-key commits arriving during it (each one shared). */
  function streamed(n: number, overrides: Partial<ConstructorParameters<typeof Batcher>[0]> = {}) {
    const s = setup(overrides);
    s.batcher.add(['k0']);
    s.batcher.commit(cp(0));
    s.batcher.take();
    for (let i = 1; i <= n; i++) {
      s.batcher.add([`k${i}`]);
      s.batcher.commit(cp(i));
    }
    return s;
  }

  it('three shared commits reach the share (0.271); one lone commit brings it under again (0.244)', () => {
    const { batcher, clock } = streamed(3);
    batcher.done(); // streaming: k1..k3 wait for company
    expect(batcher.hasQueued).toBe(false);
    clock.advance(5);
    expect(keysOf(batcher.take())).toEqual([['k1', 'k2', 'k3']]);
    batcher.done();
    batcher.add(['lone']);
    batcher.commit(cp(10)); // nothing in flight or waiting: 0.271 × 0.9 < 0.25, sealed at once
    expect(keysOf(batcher.take())).toEqual([['lone']]);
  });

  it('commits without keys (another table, a DDL) do not move the share, even during a round', () => {
    const { batcher, clock } = streamed(0);
    for (let i = 1; i <= 10; i++) batcher.commit(cp(i));
    batcher.done(); // not streaming: the boundary is sealed at once
    expect(batcher.take()).toMatchObject([{ kind: 'keys', boundary: cp(10) }]);
    expect(clock.pending).toBe(0);
  });

  it("other tables' commits between watched ones are no company: each watched commit goes out at once", () => {
    const { batcher, clock } = setup();
    for (let i = 1; i <= 20; i++) {
      batcher.commit(cp(2 * i)); // another table's transaction: a boundary alone, waiting
      clock.advance(1); // the next watched commit comes before the delay (5 ms) ends
      batcher.add([`w${i}`]);
      batcher.commit(cp(2 * i + 1));
      expect(clock.pending).toBe(0);
      const round = batcher.take();
      expect(keysOf(round)).toEqual([[`w${i}`]]);
      expect(round[0]?.boundary).toEqual(cp(2 * i + 1));
      batcher.done();
      clock.advance(1);
    }
  });

  it('a done() with nothing gathered seals nothing, arms nothing and signals nothing', () => {
    for (const n of [0, 5]) {
      const { batcher, clock, ready } = streamed(n);
      if (n > 0) {
        batcher.done(); // streaming now: k1..k5 wait
        clock.advance(5);
        batcher.take();
      }
      const before = ready();
      batcher.done();
      expect(ready()).toBe(before);
      expect(clock.pending).toBe(0);
      expect(batcher.hasQueued).toBe(false);
    }
  });

  it('after hurry(), what gathers during a round is sealed when it ends, even while streaming; relax() ends that', () => {
    const { batcher, clock } = streamed(5);
    batcher.hurry(); // seals k1..k5
    batcher.add(['during']);
    batcher.commit(cp(20)); // waits for the round in flight
    batcher.done(); // urgent: sealed at once, although streaming
    expect(keysOf(batcher.take())).toEqual([['k1', 'k2', 'k3', 'k4', 'k5'], ['during']]);
    batcher.add(['during2']);
    batcher.commit(cp(21));
    batcher.done();
    expect(keysOf(batcher.take())).toEqual([['during2']]);
    batcher.relax();
    batcher.add(['calm']);
    batcher.commit(cp(22));
    batcher.done(); // streaming again: waits for the delay
    expect(batcher.hasQueued).toBe(false);
    clock.advance(5);
    expect(keysOf(batcher.take())).toEqual([['calm']]);
  });
});

describe('Batcher: rounds of many batches', () => {
  it('a round takes every queued key batch that fits, each once', () => {
    const { batcher } = setup({ batchMaxKeys: 1 });
    batcher.add(['a']);
    batcher.add(['b']);
    batcher.add(['c']);
    expect(keysOf(batcher.take())).toEqual([['a'], ['b'], ['c']]);
    batcher.done();
    expect(batcher.take()).toEqual([]);
  });
});

describe('Batcher: the delay timer', () => {
  it('one timer per open batch, armed by a commit: a second does not re-arm, a seal clears it', () => {
    const { batcher, clock } = setup();
    batcher.commit(cp(1)); // a boundary alone waits for company
    expect(clock.pending).toBe(1);
    clock.advance(1);
    batcher.commit(cp(2));
    expect(clock.pending).toBe(1);
    clock.advance(4); // 5 ms after the first commit
    expect(batcher.take()[0]).toMatchObject({ kind: 'keys', boundary: cp(2) });
    batcher.done();
    batcher.commit(cp(3)); // its own delay, from now
    batcher.add(['a']);
    expect(clock.pending).toBe(1);
    batcher.commit(cp(4)); // keys, nothing in flight, not streaming: sealed at once
    expect(clock.pending).toBe(0);
    expect(keysOf(batcher.take())).toEqual([['a']]);
  });

  it('keys gathered during a round without a commit are sealed when it ends (no timer ran for them)', () => {
    const { batcher, clock } = setup();
    batcher.add(['a']);
    batcher.commit(cp(1));
    batcher.take();
    batcher.add(['mid']); // a transaction still open: no commit yet
    expect(clock.pending).toBe(0);
    batcher.done();
    const round = batcher.take();
    expect(keysOf(round)).toEqual([['mid']]);
    expect(round[0]?.boundary).toBe(null);
  });
});
