import { describe, expect, it } from 'vitest';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import {
  disagreements,
  sameAnswer,
  sameRow,
  type Observation,
} from '../../src/verify/compareObservation.js';
import { ResourceMatcher, type VerifyResource } from '../../src/verify/ResourceMatcher.js';

const ROW = { id: 1, name: 'new' };
const OLD = { id: 1, name: 'old' };

/** One read of `user:1`: nothing cached, no API answer, the row as given. */
function obs(over: Partial<Observation> = {}): Observation {
  return { key: 'user:1', cached: null, api: null, row: ROW, ...over };
}
const ok = (body: unknown) => ({ status: 200, body: JSON.stringify(body) });

describe('disagreements: which layers answer other than the database', () => {
  it('agrees when L2 and the API hold the row (key order does not matter)', () => {
    expect(
      disagreements(
        obs({
          cached: 'v{"name":"new","id":1}',
          api: { status: 200, body: '{"name":"new","id":1}' },
        }),
      ),
    ).toStrictEqual({ layers: [], apiError: false });
  });

  it('L2: another row, a negative entry for a row that exists, a value for a row that is gone', () => {
    expect(disagreements(obs({ cached: 'v' + JSON.stringify(OLD) })).layers).toEqual(['l2']);
    expect(disagreements(obs({ cached: 'n' })).layers).toEqual(['l2']);
    expect(disagreements(obs({ cached: 'v' + JSON.stringify(ROW), row: null })).layers).toEqual([
      'l2',
    ]);
    expect(disagreements(obs({ cached: 'n', row: null })).layers).toEqual([]);
  });

  it('L2: no entry, or an entry that is not Sluice’s, holds nothing that could be served', () => {
    expect(disagreements(obs({ cached: null })).layers).toEqual([]);
    expect(disagreements(obs({ cached: 'x{"id":1,"name":"old"}' })).layers).toEqual([]);
    expect(disagreements(obs({ cached: null, row: null })).layers).toEqual([]);
  });

  it('API: another row, a 404 for a row that exists, a 200 for a row that is gone, a body that is not JSON', () => {
    expect(disagreements(obs({ api: ok(OLD) }))).toStrictEqual({
      layers: ['api'],
      apiError: false,
    });
    expect(disagreements(obs({ api: { status: 404, body: '{}' } })).layers).toEqual(['api']);
    expect(disagreements(obs({ api: ok(ROW), row: null })).layers).toEqual(['api']);
    expect(disagreements(obs({ api: { status: 200, body: 'null' } })).layers).toEqual(['api']);
    expect(disagreements(obs({ api: { status: 200, body: '<html>' } })).layers).toEqual(['api']);
    expect(disagreements(obs({ api: { status: 200, body: '<html>' }, row: null })).layers).toEqual([
      'api',
    ]);
    expect(disagreements(obs({ api: { status: 200, body: 'null' }, row: null })).layers).toEqual([
      'api',
    ]);
    expect(disagreements(obs({ api: { status: 404, body: '{}' }, row: null }))).toStrictEqual({
      layers: [],
      apiError: false,
    });
  });

  it('API: any other status is an error, not a verdict', () => {
    expect(disagreements(obs({ api: { status: 503, body: '{}' } }))).toStrictEqual({
      layers: [],
      apiError: true,
    });
  });

  it('both layers at once, L2 first', () => {
    expect(disagreements(obs({ cached: 'n', api: ok(OLD) }))).toStrictEqual({
      layers: ['l2', 'api'],
      apiError: false,
    });
  });
});

describe('sameAnswer / sameRow: whether two reads saw the same', () => {
  it('L2 by its bytes', () => {
    expect(sameAnswer('l2', obs({ cached: 'v{"a":1}' }), obs({ cached: 'v{"a":1}' }))).toBe(true);
    expect(sameAnswer('l2', obs({ cached: 'v{"a":1}' }), obs({ cached: 'v{ "a":1}' }))).toBe(false);
    expect(sameAnswer('l2', obs({ cached: 'n' }), obs({ cached: null }))).toBe(false);
  });

  it('the API by status and body', () => {
    const a = obs({ api: { status: 200, body: '{"a":1}' } });
    expect(sameAnswer('api', a, obs({ api: { status: 200, body: '{"a":1}' } }))).toBe(true);
    expect(sameAnswer('api', a, obs({ api: { status: 200, body: '{"a":2}' } }))).toBe(false);
    expect(sameAnswer('api', a, obs({ api: { status: 503, body: '{"a":1}' } }))).toBe(false);
    expect(sameAnswer('api', a, obs({ api: null }))).toBe(false);
    expect(sameAnswer('api', obs({ api: null }), a)).toBe(false);
    expect(sameAnswer('api', obs({ api: null }), obs({ api: null }))).toBe(true);
  });

  it('the row by content, whatever its key order', () => {
    expect(sameRow(obs({ row: { id: 1, a: 2 } }), obs({ row: { a: 2, id: 1 } }))).toBe(true);
    expect(sameRow(obs({ row: { id: 1, a: 2 } }), obs({ row: { id: 1, a: 3 } }))).toBe(false);
    expect(sameRow(obs({ row: null }), obs({ row: { id: 1 } }))).toBe(false);
    expect(sameRow(obs({ row: { id: 1 } }), obs({ row: null }))).toBe(false);
    expect(sameRow(obs({ row: null }), obs({ row: null }))).toBe(true);
  });
});

describe('ResourceMatcher: the resource whose row key an invalidated key is', () => {
  const users: VerifyResource = {
    name: 'users',
    table: 'app.users',
    key: KeyTemplate.parse('user:{id}'),
  };
  const orders: VerifyResource = {
    name: 'orders',
    table: 'app.orders',
    key: KeyTemplate.parse('order:{id}'),
  };
  const byEmail = KeyTemplate.parse('user:email:{email}');

  it('finds the resource and the id', () => {
    const m = new ResourceMatcher([users, orders], [byEmail]);
    expect(m.match('user:42')).toStrictEqual({ resource: users, id: '42' });
    expect(m.match('order:7')).toStrictEqual({ resource: orders, id: '7' });
    expect(m.match('cart:1')).toBeNull();
  });

  it('leaves a key to a more specific template of another rule', () => {
    const m = new ResourceMatcher([users], [byEmail, users.key]);
    expect(m.match('user:email:a@b')).toBeNull();
    // The resource's own template among the rivals does not count against it.
    expect(m.match('user:1')).toStrictEqual({ resource: users, id: '1' });
  });

  it('counts literal characters: a placeholder as none, a doubled brace as one', () => {
    // `user{a}:{b}` has as many literal characters as `user:{id}` (5): not more specific.
    expect(
      new ResourceMatcher([users], [KeyTemplate.parse('user{a}:{b}')]).match('user:12'),
    ).toStrictEqual({ resource: users, id: '12' });
    // `u{abcdef}:{b}` has 2, however long its placeholders' names.
    expect(
      new ResourceMatcher([users], [KeyTemplate.parse('u{abcdef}:{b}')]).match('user:12'),
    ).toStrictEqual({ resource: users, id: '12' });
    // `x:{{{a}}}` (literal braces around a placeholder) has 4 against `x:{id}`'s 2.
    const x: VerifyResource = { name: 'x', table: 'app.x', key: KeyTemplate.parse('x:{id}') };
    expect(new ResourceMatcher([x], [KeyTemplate.parse('x:{{{a}}}')]).match('x:{42}')).toBeNull();
    expect(new ResourceMatcher([x], []).match('x:{42}')).toStrictEqual({
      resource: x,
      id: '{42}',
    });
  });
});
