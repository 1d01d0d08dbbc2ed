import { describe, expect, it } from 'vitest';
import type { SluiceError } from '../../src/errors/index.js';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import type { BarrierOutcome } from '../../src/pipeline/batch/Batcher.js';
import type { DdlKind, SourceEvent } from '../../src/pipeline/change/RowChange.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { KeyMapper } from '../../src/pipeline/mapping/KeyMapper.js';
import {
  ddlAction,
  decideSchemaMismatch,
  missingColumns,
  SchemaPolicy,
} from '../../src/pipeline/policies/schemaPolicy.js';
import { position } from '../../src/pipeline/position.js';
import { capturedLogger } from '../helpers/logs.js';

describe('schema policy decisions', () => {
  it('TRUNCATE/DROP empty the key space, ALTER/RENAME/CREATE re-check, others only commit', () => {
    const kinds: DdlKind[] = ['truncate', 'drop', 'alter', 'rename', 'create', 'other'];
    expect(kinds.map(ddlAction)).toEqual([
      'emptied',
      'emptied',
      'schema',
      'schema',
      'schema',
      'commit',
    ]);
  });

  it('lists the template columns a live table lacks, table by table; a table gone lacks them all', () => {
    const needed = (t: string): string[] => (t === 'app.users' ? ['id', 'email'] : ['id']);
    const have = new Map<string, readonly string[] | null>([
      ['app.users', ['id', 'name']],
      ['app.orders', null],
    ]);
    expect(missingColumns(['app.users', 'app.orders'], needed, have)).toEqual([
      'app.users.email',
      'app.orders.id',
    ]);
    expect(missingColumns(['app.users'], () => ['id'], have)).toEqual([]);
  });

  it('nothing missing passes; otherwise E_SCHEMA_MISMATCH, failing or flushing by policy', () => {
    expect(decideSchemaMismatch([], ['u:*'], 'ALTER TABLE t', 'fail')).toEqual({ action: 'pass' });
    const query = `ALTER TABLE users DROP COLUMN email ${'x'.repeat(300)}`;
    const fail = decideSchemaMismatch(['app.users.email'], ['u:*'], query, 'fail');
    expect(fail.action).toBe('fail');
    const flush = decideSchemaMismatch(['app.users.email'], ['u:*'], query, 'flush');
    expect(flush).toMatchObject({ action: 'flush', patterns: ['u:*'] });
    for (const d of [fail, flush]) {
      if (d.action === 'pass') throw new Error('expected a mismatch');
      expect(d.error.code).toBe('E_SCHEMA_MISMATCH');
      expect(d.error.message).toBe(
        `key templates need columns that no longer exist: app.users.email (after: ${query.slice(0, 200)})`,
      );
    }
    const two = decideSchemaMismatch(['app.users.email', 'app.users.name'], [], 'ALTER', 'fail');
    expect(two.action === 'fail' && two.error.message).toBe(
      'key templates need columns that no longer exist: app.users.email, app.users.name (after: ALTER)',
    );
    expect(fail.action === 'fail' && fail.error.details).toEqual({
      missing: ['app.users.email'],
      policy: 'fail',
    });
  });
});

type Call =
  | { op: 'commit'; cp: Checkpoint }
  | { op: 'flush'; patterns: readonly string[]; flushAll: boolean; cp: Checkpoint | null }
  | { op: 'barrier'; check: () => Promise<BarrierOutcome>; cp: Checkpoint | null };

function setup(policy: 'fail' | 'flush', live: Record<string, readonly string[] | null>) {
  const calls: Call[] = [];
  const failed: SluiceError[] = [];
  const { logger, lines: logs } = capturedLogger('warn');
  const mapper = new KeyMapper([
    { table: 'app.users', keys: [KeyTemplate.parse('user:{id}:{email}', 'k')] },
  ]);
  const schema = new SchemaPolicy({
    mapper,
    columns: (db, table) => Promise.resolve(live[`${db}.${table}`] ?? null),
    onSchemaMismatch: policy,
    delivery: {
      batcher: {
        commit: (cp) => calls.push({ op: 'commit', cp }),
        flush: (patterns, flushAll, cp) => calls.push({ op: 'flush', patterns, flushAll, cp }),
        barrier: (check, cp) => calls.push({ op: 'barrier', check, cp }),
      },
    },
    fail: (err) => failed.push(err),
    log: logger,
  });
  return { calls, failed, logs, schema };
}

const ddl = (kind: DdlKind, tables: string[]): Extract<SourceEvent, { type: 'ddl' }> => ({
  type: 'ddl',
  kind,
  tables,
  query: `${kind} ${tables.join(', ')}`,
  position: position('binlog.000001', 400),
  gtid: '0-1-7',
  server: undefined,
  timestamp: 1,
});
const cp: Checkpoint = {
  position: position('binlog.000001', 400),
  gtid: '0-1-7',
  server: undefined,
};

describe('SchemaPolicy', () => {
  it('a DDL of no mapped table only moves the checkpoint', () => {
    const { calls, schema } = setup('fail', {});
    schema.onDdl(ddl('truncate', ['app.other']));
    expect(calls).toEqual([{ op: 'commit', cp }]);
  });

  it('TRUNCATE of a mapped table flushes its key space at the statement, and says so', () => {
    const { calls, logs, schema } = setup('fail', {});
    schema.onDdl(ddl('truncate', ['app.users']));
    expect(calls).toEqual([{ op: 'flush', patterns: ['user:*:*'], flushAll: false, cp }]);
    expect(logs).toMatchObject([
      {
        level: 40,
        kind: 'truncate',
        tables: ['app.users'],
        patterns: ['user:*:*'],
        msg: 'mapped table emptied: flushing its key space',
      },
    ]);
  });

  it('a DDL of a mapped table that neither empties it nor changes its schema only moves the checkpoint', () => {
    const { calls, schema } = setup('fail', {});
    schema.onDdl(ddl('other', ['app.users']));
    expect(calls).toEqual([{ op: 'commit', cp }]);
  });

  it('ALTER of a mapped table is a barrier whose check passes while the columns exist', async () => {
    const { calls, failed, schema } = setup('fail', { 'app.users': ['id', 'email', 'name'] });
    schema.onDdl(ddl('alter', ['app.users']));
    const barrier = calls[0];
    if (barrier?.op !== 'barrier') throw new Error('expected a barrier');
    expect(barrier.cp).toEqual(cp);
    await expect(barrier.check()).resolves.toEqual({ action: 'pass' });
    expect(failed).toEqual([]);
  });

  it('a missing column halts at the barrier and stops the daemon (onSchemaMismatch: fail)', async () => {
    const { calls, failed, schema } = setup('fail', { 'app.users': ['id'] });
    schema.onDdl(ddl('alter', ['app.users']));
    const barrier = calls[0];
    if (barrier?.op !== 'barrier') throw new Error('expected a barrier');
    await expect(barrier.check()).resolves.toEqual({ action: 'halt' });
    expect(failed.map((e) => e.code)).toEqual(['E_SCHEMA_MISMATCH']);
  });

  it('a missing column flushes the table key space (onSchemaMismatch: flush)', async () => {
    const { calls, failed, logs, schema } = setup('flush', { 'app.users': null });
    schema.onDdl(ddl('rename', ['app.users']));
    const barrier = calls[0];
    if (barrier?.op !== 'barrier') throw new Error('expected a barrier');
    await expect(barrier.check()).resolves.toEqual({ action: 'flush', patterns: ['user:*:*'] });
    expect(failed).toEqual([]);
    expect(logs).toMatchObject([
      {
        level: 50,
        code: 'E_SCHEMA_MISMATCH',
        missing: ['app.users.id', 'app.users.email'],
        patterns: ['user:*:*'],
        msg: 'key templates need columns that no longer exist: app.users.id, app.users.email (after: rename app.users); flushing the table key space (onSchemaMismatch: flush)',
      },
    ]);
  });
});
