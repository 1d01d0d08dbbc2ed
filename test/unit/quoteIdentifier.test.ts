import { describe, expect, it } from 'vitest';
import { quoteIdentifier, quoteTable } from '../../src/db/quoteIdentifier.js';
import { thrown } from '../helpers/errors.js';

describe('quoteIdentifier / quoteTable', () => {
  it('backtick-quotes names made of A-Z a-z 0-9 _ $', () => {
    expect(quoteIdentifier('chat_id')).toBe('`chat_id`');
    expect(quoteIdentifier('$x9')).toBe('`$x9`');
    expect(quoteTable('app.users')).toBe('`app`.`users`');
    expect(quoteTable('users')).toBe('`users`');
  });

  it.each(['', 'a`b', 'a b', 'a;drop', 'naïve', 'a-b', 'a.b'])(
    'refuses %j rather than escaping it',
    (name) => {
      expect(() => quoteIdentifier(name, 'column')).toThrow(
        expect.objectContaining({ code: 'E_CONFIG_INVALID' }),
      );
    },
  );

  it('names what it refuses, by kind, in the message and the details', () => {
    const bad = thrown(() => quoteIdentifier('a b'));
    expect(bad.message).toBe(
      'identifier "a b" is not usable in SQL: names may only use A-Z a-z 0-9 _ $',
    );
    expect(bad.details).toStrictEqual({ identifier: 'a b' });
    const table = thrown(() => quoteTable('us ers'));
    expect(table.message).toMatch(/^table "us ers" /);
    expect(table.details).toStrictEqual({ table: 'us ers' });
  });

  it('refuses tables with more than one dot or a bad part', () => {
    expect(thrown(() => quoteTable('a.b.c')).message).toMatch(
      /^table "a\.b\.c" is not usable in SQL/,
    );
    expect(() => quoteTable('app.us`ers')).toThrow(/table "us`ers"/);
    expect(() => quoteTable('my-db.users')).toThrow(/database "my-db"/);
  });
});
