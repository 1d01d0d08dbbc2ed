import { describe, expect, it } from 'vitest';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { KeyMapper } from '../../src/pipeline/mapping/KeyMapper.js';

const mapper = new KeyMapper([
  {
    table: 'app.users',
    keys: [KeyTemplate.parse('user:{id}'), KeyTemplate.parse('user:email:{email}')],
  },
  {
    table: 'app.messages',
    keys: [KeyTemplate.parse('message:{id}'), KeyTemplate.parse('chat:{chat_id}:messages')],
  },
]);

const ada = { id: 1, email: 'ada@example.com', name: 'Ada' };

describe('KeyMapper', () => {
  it('maps an insert to the keys of the new row', () => {
    expect(mapper.keysFor({ kind: 'insert', table: 'app.users', after: ada })).toEqual([
      'user:1',
      'user:email:ada@example.com',
    ]);
  });

  it('maps a delete to the keys of the old row', () => {
    expect(
      mapper.keysFor({
        kind: 'delete',
        table: 'app.messages',
        before: { id: 10, chat_id: 3, user_id: 1, body: 'hi' },
      }),
    ).toEqual(['message:10', 'chat:3:messages']);
  });

  it('maps an update that keeps the keys to each key once', () => {
    expect(
      mapper.keysFor({
        kind: 'update',
        table: 'app.users',
        before: ada,
        after: { ...ada, name: 'Ada L.' },
      }),
    ).toEqual(['user:1', 'user:email:ada@example.com']);
  });

  it('maps an update that changes the email to the old and the new email key', () => {
    expect(
      mapper.keysFor({
        kind: 'update',
        table: 'app.users',
        before: ada,
        after: { ...ada, email: 'ada@lovelace.dev' },
      }),
    ).toEqual(['user:1', 'user:email:ada@example.com', 'user:email:ada@lovelace.dev']);
  });

  it('skips a template whose placeholder column is NULL', () => {
    expect(
      mapper.keysFor({ kind: 'insert', table: 'app.users', after: { id: 2, email: null } }),
    ).toEqual(['user:2']);
    expect(
      mapper.keysFor({
        kind: 'update',
        table: 'app.users',
        before: { id: 2, email: null },
        after: { id: 2, email: 'b@example.com' },
      }),
    ).toEqual(['user:2', 'user:email:b@example.com']);
  });

  it('maps nothing for an unmapped table', () => {
    expect(mapper.maps('app.audit')).toBe(false);
    expect(mapper.keysOf([{ kind: 'insert', table: 'app.audit', after: { id: 1 } }])).toEqual([]);
    expect(mapper.patterns('app.audit')).toEqual([]);
  });

  it('returns the keys of a row event per row, in order (the batcher de-duplicates)', () => {
    const m1 = { kind: 'insert', table: 'app.messages', after: { id: 1, chat_id: 3 } } as const;
    const m2 = { kind: 'insert', table: 'app.messages', after: { id: 2, chat_id: 3 } } as const;
    expect(mapper.keysOf([m1, m2])).toEqual([
      'message:1',
      'chat:3:messages',
      'message:2',
      'chat:3:messages',
    ]);
  });

  it('keysFor lists the keys of one change once each', () => {
    const same = new KeyMapper([
      { table: 'db.t', keys: [KeyTemplate.parse('t:{id}'), KeyTemplate.parse('t:{code}')] },
    ]);
    const change = { kind: 'insert', table: 'db.t', after: { id: 7, code: '7' } } as const;
    expect(same.keysOf([change])).toEqual(['t:7', 't:7']);
    expect(same.keysFor(change)).toEqual(['t:7']);
  });

  it('lists tables, columns and flush patterns', () => {
    expect(mapper.tables).toEqual(['app.users', 'app.messages']);
    expect(mapper.maps('app.users')).toBe(true);
    expect([...mapper.columns('app.messages')]).toEqual(['id', 'chat_id']);
    expect(mapper.patterns('app.users')).toEqual(['user:*', 'user:email:*']);
    expect(mapper.patterns('app.messages')).toEqual(['message:*', 'chat:*:messages']);
    expect(mapper.patternsOf()).toEqual(['user:*', 'user:email:*', 'message:*', 'chat:*:messages']);
    expect(mapper.patternsOf(['app.messages', 'app.audit'])).toEqual([
      'message:*',
      'chat:*:messages',
    ]);
  });

  it('merges two rules for one table and de-duplicates patterns', () => {
    const merged = new KeyMapper([
      { table: 'db.t', keys: [KeyTemplate.parse('t:{id}')] },
      { table: 'db.t', keys: [KeyTemplate.parse('t:{code}')] },
    ]);
    expect(merged.keysFor({ kind: 'insert', table: 'db.t', after: { id: 1, code: 'x' } })).toEqual([
      't:1',
      't:x',
    ]);
    expect(merged.patterns('db.t')).toEqual(['t:*']);
    // Two tables feeding one key space: a flush of both scans it once.
    const shared = new KeyMapper([
      { table: 'db.a', keys: [KeyTemplate.parse('x:{id}')] },
      { table: 'db.b', keys: [KeyTemplate.parse('x:{id}'), KeyTemplate.parse('b:{id}')] },
    ]);
    expect(shared.patternsOf()).toEqual(['x:*', 'b:*']);
  });

  it('an update that leaves the key columns alone lists each key once (not rendered again)', () => {
    const after = { ...ada, name: 'Ada L.' };
    expect(mapper.keysOf([{ kind: 'update', table: 'app.users', before: ada, after }])).toEqual([
      'user:1',
      'user:email:ada@example.com',
    ]);
  });

  it('mappedTables: the mapped ones a DDL names; db.* expands to the mapped tables of db', () => {
    expect(mapper.mappedTables(['app.*'])).toEqual(['app.users', 'app.messages']);
    expect(mapper.mappedTables(['other.*', 'app.messages', 'app.audit'])).toEqual(['app.messages']);
    // `*` only as a whole table name: `app.users*` is a (strange) table name, not a pattern.
    expect(mapper.mappedTables(['app.users*'])).toEqual([]);
    // The database name is matched whole: `app.*` is not `apps.*`.
    const two = new KeyMapper([
      { table: 'app.t', keys: [KeyTemplate.parse('a:{id}')] },
      { table: 'apps.t', keys: [KeyTemplate.parse('b:{id}')] },
    ]);
    expect(two.mappedTables(['app.*'])).toEqual(['app.t']);
  });

  it('decodeColumns: per mapped table, the columns its templates read', () => {
    expect(mapper.decodeColumns()).toEqual(
      new Map([
        ['app.users', new Set(['id', 'email'])],
        ['app.messages', new Set(['id', 'chat_id'])],
      ]),
    );
  });
});
