import { describe, expect, it } from 'vitest';
import { checkAgainstSchema, missingColumns } from '../../src/config/liveCheck.js';
import type { ColumnLookup } from '../../src/config/liveCheck.js';
import { validateConfig } from '../../src/config/schema.js';
import { SluiceError } from '../../src/errors/index.js';

const config = validateConfig({
  source: { url: 'mysql://sluice:secret@127.0.0.1:3307/app' },
  redis: { url: 'redis://127.0.0.1:6380/0' },
  rules: [
    { table: 'app.messages', keys: ['message:{id}', 'chat:{chat_id}:messages'] },
    { table: 'app.users', keys: ['user:{id}', 'user:email:{emial}'] },
  ],
  api: {
    resources: {
      users: { table: 'app.users', key: 'user:{id}' },
      messages: {
        table: 'app.messages',
        key: 'message:{id}',
        list: { by: 'chat_id', cursor: 'id', key: 'chat:{chat_id}:messages' },
      },
    },
  },
});

const SCHEMA: Record<string, readonly string[]> = {
  'app.users': ['id', 'email', 'name', 'created_at'],
  'app.messages': ['id', 'chat_id', 'user_id', 'body', 'created_at'],
};

function stub(schema: Record<string, readonly string[]>, calls: string[] = []): ColumnLookup {
  return (db, table) => {
    calls.push(`${db}.${table}`);
    return Promise.resolve(schema[`${db}.${table}`] ?? null);
  };
}

async function liveError(lookup: ColumnLookup): Promise<SluiceError> {
  try {
    await checkAgainstSchema(config, lookup);
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('checkAgainstSchema passed');
}

describe('checkAgainstSchema', () => {
  it('names a template column the table lacks, by field path', async () => {
    const err = await liveError(stub(SCHEMA));
    expect(err.code).toBe('E_CONFIG_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      'configuration does not match the database schema (1 problem):\n' +
        'rules[1].keys[1]: column "emial" does not exist in app.users',
    );
    expect(err.details['issues']).toEqual([
      { path: 'rules[1].keys[1]', message: 'column "emial" does not exist in app.users' },
    ]);
  });

  it('looks each table up once, split into schema and table', async () => {
    const calls: string[] = [];
    await liveError(stub(SCHEMA, calls));
    expect(calls.sort()).toEqual(['app.messages', 'app.users']);
  });

  it('passes when every table and column exists', async () => {
    const ok = validateConfig({
      source: { url: 'mysql://h/app' },
      redis: { url: 'redis://h' },
      rules: [{ table: 'app.users', keys: ['user:{id}', 'user:email:{email}'] }],
    });
    await expect(checkAgainstSchema(ok, stub(SCHEMA))).resolves.toBeUndefined();
  });

  it('reports a missing table at the rule, and every missing column', async () => {
    const err = await liveError(
      stub({ 'app.messages': ['id', 'body'] }), // no app.users; messages lost chat_id
    );
    expect(err.details['issues']).toEqual([
      { path: 'rules[0].keys[1]', message: 'column "chat_id" does not exist in app.messages' },
      {
        path: 'rules[1].table',
        message: 'table app.users does not exist (or the user cannot see it)',
      },
      {
        path: 'api.resources.messages.list.key',
        message: 'column "chat_id" does not exist in app.messages',
      },
      {
        path: 'api.resources.messages.list.by',
        message: 'column "chat_id" does not exist in app.messages',
      },
    ]);
  });

  it('hints at a column that differs only in case', async () => {
    const err = await liveError(stub({ ...SCHEMA, 'app.users': ['ID', 'emial'] }));
    expect(err.details['issues']).toContainEqual({
      path: 'rules[1].keys[0]',
      message:
        'column "id" does not exist in app.users (did you mean "ID"? template columns are case-sensitive)',
    });
  });

  it('lets errors of the lookup itself through', async () => {
    const boom = new Error('ECONNREFUSED');
    await expect(checkAgainstSchema(config, () => Promise.reject(boom))).rejects.toBe(boom);
  });
});

describe('missingColumns', () => {
  it('lists the template and API fields that need a dropped column', () => {
    expect(missingColumns(config, 'app.messages', ['id', 'user_id', 'body'])).toEqual([
      { path: 'rules[0].keys[1]', column: 'chat_id' },
      { path: 'api.resources.messages.list.key', column: 'chat_id' },
      { path: 'api.resources.messages.list.by', column: 'chat_id' },
    ]);
    expect(missingColumns(config, 'app.messages', ['chat_id', 'body'])).toEqual([
      { path: 'rules[0].keys[0]', column: 'id' },
      { path: 'api.resources.messages.key', column: 'id' },
      { path: 'api.resources.messages.list.cursor', column: 'id' },
    ]);
  });

  it('is empty when the templates still match, or for an unmapped table', () => {
    expect(missingColumns(config, 'app.messages', SCHEMA['app.messages'] ?? [])).toEqual([]);
    expect(missingColumns(config, 'app.audit', [])).toEqual([]);
  });
});
