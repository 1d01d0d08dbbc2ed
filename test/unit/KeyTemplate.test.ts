import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import { KeyTemplate, renderValue } from '../../src/keys/KeyTemplate.js';
import { globToRegExp } from '../../src/keys/glob.js';

function syntaxError(text: string, field?: string): SluiceError {
  try {
    if (field === undefined) KeyTemplate.parse(text);
    else KeyTemplate.parse(text, field);
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error(`"${text}" parsed`);
}

describe('KeyTemplate.parse / render', () => {
  it('renders a single placeholder', () => {
    const t = KeyTemplate.parse('user:{id}');
    expect(t.columns).toEqual(['id']);
    expect(t.source).toBe('user:{id}');
    expect(t.render({ id: 42 })).toBe('user:42');
  });

  it('renders several placeholders, repeated ones included', () => {
    const t = KeyTemplate.parse('chat:{chat_id}:msg:{id}:{chat_id}');
    expect(t.columns).toEqual(['chat_id', 'id', 'chat_id']);
    expect(t.render({ chat_id: 7, id: 9 })).toBe('chat:7:msg:9:7');
  });

  it('treats {{ and }} as literal braces (hash tags)', () => {
    const t = KeyTemplate.parse('user:{{{id}}}');
    expect(t.columns).toEqual(['id']);
    expect(t.render({ id: 42 })).toBe('user:{42}');
    const literal = KeyTemplate.parse('a{{b}}c');
    expect(literal.columns).toEqual([]);
    expect(literal.render({})).toBe('a{b}c');
  });

  it.each([
    ['user:{id', 'unclosed "{" at offset 5 in "user:{id"'],
    ['user:id}', 'unbalanced "}" (write "}}" for a literal brace) at offset 7 in "user:id}"'],
    ['user:{}', 'empty placeholder "{}" at offset 5 in "user:{}"'],
    ['user:{a-b}', 'invalid column name "a-b" at offset 5 in "user:{a-b}"'],
    ['user:{a{b}', 'unclosed "{" at offset 5 in "user:{a{b}"'],
    ['', 'empty template at offset 0 in ""'],
  ])('rejects %j with E_TEMPLATE_SYNTAX naming the field', (text, why) => {
    const err = syntaxError(text, 'rules[0].keys[1]');
    expect(err.code).toBe('E_TEMPLATE_SYNTAX');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(`rules[0].keys[1]: ${why}`);
    expect(err.details['field']).toBe('rules[0].keys[1]');
  });

  it('yields no key when a placeholder column is NULL or absent', () => {
    const t = KeyTemplate.parse('user:email:{email}');
    expect(t.render({ email: null })).toBeNull();
    expect(t.render({ id: 1 })).toBeNull();
    expect(KeyTemplate.parse('a:{x}:{y}').render({ x: 1, y: null })).toBeNull();
  });

  it('does not read inherited properties as columns', () => {
    expect(KeyTemplate.parse('x:{constructor}').render({})).toBeNull();
    expect(KeyTemplate.parse('x:{toString}').render({ id: 1 })).toBeNull();
  });

  it('renders integers beyond 2^53 exactly, from strings and bigints', () => {
    const t = KeyTemplate.parse('user:{id}');
    expect(t.render({ id: '18446744073709551615' })).toBe('user:18446744073709551615');
    expect(t.render({ id: 18446744073709551615n })).toBe('user:18446744073709551615');
    expect(t.render({ id: 9007199254740993n })).toBe('user:9007199254740993');
  });

  it('renders binary as lowercase hex, respecting the view offset', () => {
    const t = KeyTemplate.parse('blob:{b}');
    expect(t.render({ b: Buffer.from([0xde, 0xad, 0xbe, 0xef]) })).toBe('blob:deadbeef');
    expect(t.render({ b: new Uint8Array([1, 2, 3, 0xff]).subarray(2) })).toBe('blob:03ff');
  });

  it('keeps strings (emoji included) unchanged', () => {
    const t = KeyTemplate.parse('user:email:{email}');
    expect(t.render({ email: 'zoë+🐧@example.com' })).toBe('user:email:zoë+🐧@example.com');
  });

  it('renders dates as ISO-8601 UTC and booleans as 1/0', () => {
    const t = KeyTemplate.parse('day:{d}');
    expect(t.render({ d: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)) })).toBe(
      'day:2024-01-02T03:04:05.678Z',
    );
    expect(t.render({ d: new Date(Number.NaN) })).toBeNull();
    expect(t.render({ d: true })).toBe('day:1');
    expect(t.render({ d: false })).toBe('day:0');
  });

  it('renderValue: numbers, non-finite numbers, strings', () => {
    expect(renderValue(0)).toBe('0');
    expect(renderValue(-12)).toBe('-12');
    expect(renderValue(1.5)).toBe('1.5');
    expect(renderValue(Number.POSITIVE_INFINITY)).toBeNull();
    expect(renderValue('')).toBe('');
    expect(renderValue(undefined)).toBeNull();
  });

  it('renderValue: a SET column (an array of members) as a comma list, a JSON column as its JSON text', () => {
    expect(renderValue(['red', 'blue'])).toBe('red,blue');
    expect(renderValue([])).toBe('');
    expect(renderValue({ a: 1, b: [true] })).toBe('{"a":1,"b":[true]}');
    expect(KeyTemplate.parse('doc:{meta}').render({ meta: { v: 2 } })).toBe('doc:{"v":2}');
  });

  it('names the field `template` when the caller names none, and prints as its source', () => {
    const err = syntaxError('user:{');
    expect(err.message).toBe('template: unclosed "{" at offset 5 in "user:{"');
    expect(err.details).toStrictEqual({ field: 'template', template: 'user:{', offset: 5 });
    expect(String(KeyTemplate.parse('user:{{x}}:{id}'))).toBe('user:{{x}}:{id}');
  });
});

describe('KeyTemplate.match', () => {
  it('reads the placeholder values back from a key the template rendered', () => {
    const t = KeyTemplate.parse('chat:{chat_id}:msg:{id}');
    expect(t.match('chat:7:msg:42')).toStrictEqual({ chat_id: '7', id: '42' });
    expect(t.match('chat::msg:')).toStrictEqual({ chat_id: '', id: '' });
    expect(t.match('chat:a\nb:msg:1')).toStrictEqual({ chat_id: 'a\nb', id: '1' });
  });

  it('does not fit a key with anything before or after the template', () => {
    const t = KeyTemplate.parse('user:{id}:profile');
    expect(t.match('xuser:1:profile')).toBeNull();
    expect(t.match('user:1:profile:x')).toBeNull();
    expect(t.match('user:1:profile')).toStrictEqual({ id: '1' });
  });

  it('takes literal text with regex characters as itself', () => {
    const t = KeyTemplate.parse('a.b+(c)|[d]:{id}');
    expect(t.match('a.b+(c)|[d]:5')).toStrictEqual({ id: '5' });
    expect(t.match('aXb+(c)|[d]:5')).toBeNull();
  });
});

describe('KeyTemplate.pattern', () => {
  it('turns placeholders into *', () => {
    expect(KeyTemplate.parse('user:{id}').pattern()).toBe('user:*');
    expect(KeyTemplate.parse('chat:{chat_id}:messages').pattern()).toBe('chat:*:messages');
    expect(KeyTemplate.parse('user:{{{id}}}').pattern()).toBe('user:{*}');
  });

  it('escapes glob characters of the literal text', () => {
    expect(KeyTemplate.parse('a*b?:{id}:[x]\\').pattern()).toBe('a\\*b\\?:*:\\[x\\]\\\\');
  });

  it('matches exactly the keys the template renders', () => {
    const t = KeyTemplate.parse('star*[1]:{id}');
    const re = globToRegExp(t.pattern());
    expect(re.test(t.render({ id: 5 }) ?? '')).toBe(true);
    expect(re.test('star*[1]:5')).toBe(true);
    expect(re.test('starX[1]:5')).toBe(false);
    expect(re.test('star*1:5')).toBe(false);
  });
});
