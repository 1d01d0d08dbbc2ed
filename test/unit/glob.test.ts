import { describe, expect, it } from 'vitest';
import { escapeGlob, globToRegExp } from '../../src/keys/glob.js';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';

describe('escapeGlob', () => {
  it('escapes * ? [ ] and backslash, nothing else', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
    expect(escapeGlob('user:{42}^-.+')).toBe('user:{42}^-.+');
  });

  it.each(['plain', 'a*b', '?', '[abc]', '[^a]', 'back\\slash', 'x]y', '🐧*', 'a\nb'])(
    'an escaped %j matches only itself',
    (text) => {
      const re = globToRegExp(escapeGlob(text));
      expect(re.test(text)).toBe(true);
      expect(re.test(`${text}x`)).toBe(false);
      expect(re.test(text.slice(1))).toBe(false);
    },
  );
});

describe('globToRegExp follows Redis glob semantics', () => {
  // Cases checked against redis-server 7.0 KEYS.
  it.each<[string, string, boolean]>([
    ['user:*', 'user:42', true],
    ['user:*', 'user:', true],
    ['user:*', 'users:1', false],
    ['user:*', 'xuser:1', false], // anchored at the start as well as the end
    ['*', '', true],
    ['a*b*c', 'a-b-b-c', true],
    ['a*', 'a\nb', true],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h?llo', 'h\nllo', true],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[^e]llo', 'h^llo', true], // the `^` negates; it is not a member
    ['h[a-c]llo', 'hbllo', true],
    ['h[a-c]llo', 'hdllo', false],
    ['h[c-a]llo', 'hbllo', true], // reversed range: Redis swaps the ends
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hallo', false],
    ['h\\?llo', 'hallo', false],
    ['a[\\]]b', 'a]b', true],
    ['a[\\]]b', 'a\\b', false],
    ['a[]b', 'ab', false], // `[]` is an empty class: matches nothing
    ['a[^]b', 'axb', true],
    ['a[bc', 'ab', true], // an unclosed class runs to the end of the pattern
    ['a[bc', 'a[bc', false],
    ['a[\\', 'a\\', true], // a backslash last in an unclosed class is literal
    ['a[b-', 'a-', true], // `-` with no end after it is literal, not a range
    ['a[b-', 'ac', false],
    ['a[b-]', 'a-', false], // `b-]` is a range (reversed: `]` to `b`), the class unclosed
    ['a\\', 'a\\', true], // a trailing backslash is literal
    ['a.b', 'axb', false],
    ['a+(b)|c', 'a+(b)|c', true],
    ['{user}:*', '{user}:1', true],
  ])('%j against %j → %s', (glob, key, expected) => {
    expect(globToRegExp(glob).test(key)).toBe(expected);
  });

  it('a template with a literal * does not match another character there', () => {
    const t = KeyTemplate.parse('rate*limit:{id}');
    const re = globToRegExp(t.pattern());
    expect(re.test('rate*limit:1')).toBe(true);
    expect(re.test('rateXlimit:1')).toBe(false);
    expect(re.test('rate*limit:')).toBe(true);
  });
});
