import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { CheckpointTracker } from '../../src/pipeline/checkpoint/CheckpointTracker.js';
import { position } from '../../src/pipeline/position.js';

const cp = (pos: number): Checkpoint => ({
  position: position('binlog.000001', pos),
  gtid: undefined,
});

describe('CheckpointTracker (rule 1: checkpoint after ack)', () => {
  it('in-order acks: each boundary becomes safe when its item is acked', () => {
    const t = new CheckpointTracker();
    t.sent(1, cp(100));
    t.sent(2, cp(200));
    expect(t.acked(1)).toEqual(cp(100));
    expect(t.acked(2)).toEqual(cp(200));
    expect(t.pending).toBe(0);
  });

  it('a later ack never claims an earlier unacknowledged item', () => {
    const t = new CheckpointTracker();
    t.sent(1, cp(100));
    t.sent(2, cp(200));
    t.sent(3, cp(300));
    expect(t.acked(3)).toBe(null);
    expect(t.acked(2)).toBe(null);
    expect(t.pending).toBe(3);
    // The first ack releases all three at once: the newest boundary is safe.
    expect(t.acked(1)).toEqual(cp(300));
    expect(t.pending).toBe(0);
  });

  it('items without a boundary (a batch sealed mid-transaction) hold the line but claim nothing', () => {
    const t = new CheckpointTracker();
    t.sent(1, null);
    t.sent(2, cp(200));
    t.sent(3, null);
    expect(t.acked(1)).toBe(null);
    expect(t.acked(3)).toBe(null);
    expect(t.acked(2)).toEqual(cp(200));
  });

  it('refuses ids out of order and unknown or repeated acks', () => {
    const t = new CheckpointTracker();
    t.sent(5, cp(1));
    expect(() => t.sent(5, cp(2))).toThrow(/not after/);
    expect(() => t.sent(4, cp(2))).toThrow(/not after/);
    expect(() => t.acked(9)).toThrow(/unknown item 9/);
    expect(t.acked(5)).toEqual(cp(1));
    expect(() => t.acked(5)).toThrow(/unknown item 5/);
    // Everything is released: the order still holds.
    expect(() => t.sent(5, cp(3))).toThrow('CheckpointTracker.sent: id 5 is not after 5');
    t.sent(6, cp(3));
    expect(t.pending).toBe(1);
  });

  it('releases thousands of items in any ack order, holding only the unreleased', () => {
    const t = new CheckpointTracker();
    for (let i = 1; i <= 5000; i++) t.sent(i, cp(i));
    for (let i = 1; i <= 2500; i++) expect(t.acked(i)).toEqual(cp(i));
    expect(t.pending).toBe(2500);
    t.sent(5001, cp(5001));
    expect(t.acked(5001)).toBe(null);
    for (let i = 2501; i < 5000; i++) expect(t.acked(i)).toEqual(cp(i));
    expect(t.acked(5000)).toEqual(cp(5001));
    expect(t.pending).toBe(0);
  });

  it('any ack order: a returned boundary is the newest one with every item up to it acked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }).chain((bounds) =>
          fc.tuple(
            fc.constant(bounds),
            fc.shuffledSubarray(
              bounds.map((_, i) => i + 1),
              { minLength: bounds.length, maxLength: bounds.length },
            ),
          ),
        ),
        ([hasBoundary, order]) => {
          const t = new CheckpointTracker();
          hasBoundary.forEach((b, i) => t.sent(i + 1, b ? cp(i + 1) : null));
          const acked = new Set<number>();
          let last: number | null = null;
          for (const id of order) {
            acked.add(id);
            const safe = t.acked(id);
            // The prefix of acknowledged items, and its newest boundary.
            let prefix = 0;
            while (acked.has(prefix + 1)) prefix++;
            let expected: number | null = null;
            for (let i = prefix; i >= 1; i--) {
              if (hasBoundary[i - 1] === true) {
                expected = i;
                break;
              }
            }
            if (expected === last) expect(safe).toBe(null);
            else expect(safe?.position.pos).toBe(expected);
            if (safe !== null) last = safe.position.pos;
          }
        },
      ),
    );
  });
});
