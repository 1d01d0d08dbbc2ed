import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyValue, kindOfType, type ColumnKind } from '../../src/db/columnKinds.js';
import { parseIdList } from '../../src/http/parseIdList.js';
import { isValidText, textSchema } from '../../src/http/Resource.js';
import { cut, readOptions, TOKEN_CACHE_SIZE, worstSource } from '../../src/http/resourceRoutes.js';
import { renderValue } from '../../src/keys/KeyTemplate.js';

describe('keyValue: request text → canonical key text and parameter', () => {
  it('integers are canonical decimal, exact beyond 2^53, sent as BigInt', () => {
    expect(keyValue('integer', '007')).toEqual({ text: '7', param: 7n });
    expect(keyValue('integer', '18446744073709551615')).toEqual({
      text: '18446744073709551615',
      param: 18446744073709551615n,
    });
    expect(keyValue('integer', '-1')).toBeNull();
    expect(keyValue('integer', '1e3')).toBeNull();
  });

  it('binary is lowercase hex, sent as bytes; text is itself', () => {
    expect(keyValue('binary', '00FF')).toEqual({ text: '00ff', param: Buffer.from([0, 255]) });
    expect(keyValue('binary', 'abc')).toBeNull();
    expect(keyValue('text', 'Zoë 🐳')).toEqual({ text: 'Zoë 🐳', param: 'Zoë 🐳' });
  });

  it('the canonical text is what the daemon renders for the stored value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat(5), (n, zeros) => {
        const v = keyValue('integer', '0'.repeat(zeros) + n.toString());
        // The binlog hands integers over as numbers (≤ 2^53) or exact strings.
        const fromBinlog = n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
        expect(v?.text).toBe(renderValue(fromBinlog));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (bytes) => {
        const hex = Buffer.from(bytes).toString('hex').toUpperCase();
        expect(keyValue('binary', hex)?.text).toBe(renderValue(Buffer.from(bytes)));
      }),
    );
  });

  it('maps MySQL data types to kinds', () => {
    expect(['bigint', 'INT', 'tinyint'].map(kindOfType)).toEqual(['integer', 'integer', 'integer']);
    expect(['varbinary', 'blob'].map(kindOfType)).toEqual(['binary', 'binary']);
    expect(['varchar', 'datetime', 'decimal'].map(kindOfType)).toEqual(['text', 'text', 'text']);
  });
});

describe('isValidText agrees with the route JSON schemas', () => {
  const kinds: ColumnKind[] = ['integer', 'binary', 'text'];
  it.each(kinds)('%s', (kind) => {
    const schema = textSchema(kind) as { pattern?: string; minLength?: number; maxLength?: number };
    const bySchema = (text: string): boolean =>
      (schema.pattern === undefined || new RegExp(schema.pattern, 'u').test(text)) &&
      [...text].length >= (schema.minLength ?? 0) &&
      [...text].length <= (schema.maxLength ?? Infinity);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 30 }),
          fc.stringMatching(/^[0-9a-fA-F]{0,24}$/),
          fc.string({ unit: 'grapheme', minLength: 250, maxLength: 260 }),
        ),
        (text) => {
          expect(isValidText(kind, text)).toBe(bySchema(text));
        },
      ),
    );
  });
});

describe('parseIdList', () => {
  it('gives the distinct ids in request order, canonicalised', () => {
    const r = parseIdList('3,1,003,2', 'integer');
    expect(r.ok && r.ids.map((id) => id.text)).toEqual(['3', '1', '2']);
  });

  it('refuses more than 1000 ids (counted before de-duplication)', () => {
    expect(parseIdList(Array(1000).fill('1').join(','), 'integer').ok).toBe(true);
    expect(parseIdList(Array(1001).fill('1').join(','), 'integer')).toEqual({
      ok: false,
      message: 'ids: at most 1000 ids per request (got 1001)',
    });
  });

  it('names the position of a bad element', () => {
    expect(parseIdList('1,,2', 'integer')).toEqual({
      ok: false,
      message: 'ids[1]: must be a non-negative integer of at most 20 digits',
    });
    expect(parseIdList('ab,xyz', 'binary')).toMatchObject({ ok: false, message: /^ids\[1\]/ });
    expect(parseIdList(`a,${'b'.repeat(256)}`, 'text')).toMatchObject({ ok: false });
  });
});

describe('cut: a shorter page from the cached first page', () => {
  const page = {
    items: [{ id: '9' }, { id: '7' }, { id: 5 }, { id: '3' }],
    nextCursor: '3',
  };

  it('keeps the first rows and points the cursor at the last one kept', () => {
    expect(cut(page, 2, 'id')).toEqual({ items: [{ id: '9' }, { id: '7' }], nextCursor: '7' });
    expect(cut(page, 3, 'id').nextCursor).toBe('5');
  });

  it('returns the page itself when it is not longer than the limit', () => {
    expect(cut(page, 4, 'id')).toBe(page);
    expect(cut({ items: [{ id: '1' }], nextCursor: null }, 50, 'id').nextCursor).toBeNull();
  });
});

describe('worstSource', () => {
  it('is the slowest level that answered', () => {
    expect(worstSource(['l1', 'l1'])).toBe('l1');
    expect(worstSource(['l1', 'l2'])).toBe('l2');
    expect(worstSource(['l2', 'miss', 'l1'])).toBe('miss');
  });
});

describe('X-Sluice-After: readOptions', () => {
  it('no header: no fence', () => {
    expect(readOptions(undefined)).toEqual({});
  });

  it('a token is parsed once and its options reused; an invalid one is an error every time', () => {
    const first = readOptions('0-1-42');
    expect(first).toMatchObject({ after: { kind: 'mariadb', text: '0-1-42' } });
    expect(readOptions('0-1-42')).toBe(first);
    expect(readOptions('binlog.000003:120')).toMatchObject({
      after: { kind: 'position', file: 'binlog.000003', pos: 120 },
    });
    for (let i = 0; i < 2; i++) {
      expect(readOptions('not a token')).toMatchObject({ code: 'E_FENCE_TOKEN_INVALID' });
    }
  });

  it('past TOKEN_CACHE_SIZE tokens every answer is still the parse of its own header', () => {
    for (let seq = 1; seq <= TOKEN_CACHE_SIZE + 10; seq++) {
      expect(readOptions(`0-1-${seq}`)).toMatchObject({ after: { text: `0-1-${seq}` } });
    }
    expect(readOptions(['0-1-5', '1-2-7'])).toMatchObject({
      after: { kind: 'mariadb', text: '0-1-5,1-2-7' },
    });
  });
});
