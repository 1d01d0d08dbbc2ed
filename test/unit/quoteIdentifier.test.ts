import { describe, expect, it } from 'vitest';
import { quoteIdentifier, quoteTable } from '../../src/db/quoteIdentifier.js';

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
    expect(() => quoteIdentifier('a b')).toThrow(
      expect.objectContaining({
        message: 'identifier "a b" is not usable in SQL: names may only use A-Z a-z 0-9 _ $',
        details: { identifier: 'a b' },
      }),
    );
    expect(() => quoteTable('us ers')).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^table "us ers" /),
        details: { table: 'us ers' },
      }),
    );
  });

  it('refuses tables with more than one dot or a bad part', () => {
    expect(() => quoteTable('a.b.c')).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^table "a\.b\.c" is not usable in SQL/),
      }),
    );
    expect(() => quoteTable('app.us`ers')).toThrow(/table "us`ers"/);
    expect(() => quoteTable('my-db.users')).toThrow(/database "my-db"/);
  });
});
