import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import type { Row } from '../../src/pipeline/change/RowChange.js';
import { KeyMapper } from '../../src/pipeline/mapping/KeyMapper.js';

const templates = [
  KeyTemplate.parse('item:{id}'),
  KeyTemplate.parse('item:by:{a}:{b}'),
  KeyTemplate.parse('item:at:{at}'),
];
const mapper = new KeyMapper([{ table: 'db.items', keys: templates }]);

/** What an update must map to: every key of the old image, then every key of the new one, each once. */
function expected(before: Row, after: Row): string[] {
  const out = new Set<string>();
  for (const row of [before, after]) {
    for (const t of templates) {
      const key = t.render(row);
      if (key !== null) out.add(key);
    }
  }
  return [...out];
}

const value = fc.oneof(
  fc.constantFrom(null, 0, 1, 'x', 'é'),
  fc.integer({ min: 0, max: 3 }).map((n) => new Date(n * 1000)),
  fc.integer({ min: 0, max: 3 }).map((n) => Buffer.from([n])),
);
const row = fc.record({ id: value, a: value, b: value, at: value });

describe('KeyMapper on updates (the new image is rendered only when its key columns changed)', () => {
  it('maps every update to the keys of both images, in order, each once', () => {
    fc.assert(
      fc.property(row, row, fc.boolean(), (before, changed, same) => {
        const after = same ? { ...before } : changed;
        expect(mapper.keysFor({ kind: 'update', table: 'db.items', before, after })).toEqual(
          expected(before, after),
        );
      }),
    );
  });

  it('treats equal Dates and bytes in distinct objects as the same key', () => {
    const before = { id: 1, a: 'x', b: Buffer.from('ab'), at: new Date(0) };
    const after = { id: 1, a: 'x', b: Buffer.from('ab'), at: new Date(0) };
    expect(mapper.keysFor({ kind: 'update', table: 'db.items', before, after })).toEqual([
      'item:1',
      'item:by:x:6162',
      'item:at:1970-01-01T00:00:00.000Z',
    ]);
  });
});
