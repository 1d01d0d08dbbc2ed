import { describe, expect, it } from 'vitest';
import { position } from '../../src/pipeline/position.js';
import { includeSchemaOf, startOptions } from '../../src/pipeline/source/zongjiClient.js';

const EVENTS = [
  'rotate',
  'tablemap',
  'writerows',
  'updaterows',
  'deleterows',
  'xid',
  'query',
  'heartbeat',
];

describe('includeSchemaOf', () => {
  it('groups `db.table` names by schema, in order, splitting at the first dot', () => {
    expect(includeSchemaOf(['app.users', 'app.orders', 'shop.items', 'x.a.b'])).toEqual({
      app: ['users', 'orders'],
      shop: ['items'],
      x: ['a.b'],
    });
    expect(includeSchemaOf([])).toEqual({});
  });
});

describe('startOptions', () => {
  const schema = { app: ['users'] };

  it('starts a position at its file and offset', () => {
    expect(
      startOptions(7, schema, {
        kind: 'position',
        position: position('binlog.000003', 1234),
        gtid: '0-1-9',
      }),
    ).toEqual({
      serverId: 7,
      includeSchema: schema,
      includeEvents: EVENTS,
      filename: 'binlog.000003',
      position: 1234,
    });
  });

  it('starts a GTID start at its set and an end start at the end', () => {
    expect(startOptions(7, schema, { kind: 'gtid', gtid: '0-1-42' })).toEqual({
      serverId: 7,
      includeSchema: schema,
      includeEvents: EVENTS,
      gtidSet: '0-1-42',
    });
    expect(startOptions(7, schema, { kind: 'end' })).toEqual({
      serverId: 7,
      includeSchema: schema,
      includeEvents: EVENTS,
      startAtEnd: true,
    });
  });
});
