import { describe, expect, it } from 'vitest';
import { describeRedis, redactUrl } from '../../src/config/redact.js';

describe('redactUrl', () => {
  it.each([
    ['mysql://sluice:sluice-secret@127.0.0.1:3307/app', 'mysql://sluice:***@127.0.0.1:3307/app'],
    ['redis://:pw@127.0.0.1:6380/0', 'redis://:***@127.0.0.1:6380/0'],
    ['rediss://default:pw@cache:6379', 'rediss://default:***@cache:6379'],
    // invalid URLs are redacted too: that is when they get printed
    ['mysql://u:hunter2@host:notaport/app', 'mysql://u:***@host:notaport/app'],
    ['mysql://u:p@ss/w@rd@host/app', 'mysql://u:***@host/app'],
    ['mysql://u:12/ss@h/app', 'mysql://u:***@h/app'],
    ['mysql://u:pw@h/app?ssl=true&password=x&b=1', 'mysql://u:***@h/app?ssl=true&password=***&b=1'],
    // a leading space (the URL parser accepts it) or a mistyped scheme still hides it
    [' mysql://u:pw@h/app', ' mysql://u:***@h/app'],
    ['mysql//u:pw@h/app', 'mysql//u:***@h/app'],
    ['mysql:/u:pw@h/app', 'mysql:***@h/app'],
    ['u:pw@h', 'u:***@h'],
    [':pw@h', ':***@h'],
    ['1://u:pw@h', '1://u:***@h'],
    ['://u:pw@h', '://u:***@h'],
    ['u:pw@h/?next=http://x', 'u:***@h/?next=http://x'],
    ['redis://:p:w@h', 'redis://:***@h'],
    // an `@` after the host over-redacts (the accepted price of taking the last `@`)
    ['mysql://127.0.0.1:3307/app?user=a@b', 'mysql://127.0.0.1:***@b'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it.each([
    'mysql://127.0.0.1:3307/app',
    'mysql://sluice@127.0.0.1/app',
    'redis://user@host:6379/0',
    'user@host',
    'redis://127.0.0.1:6380/0',
    'not a url',
    '',
  ])('leaves %j without a password unchanged', (url) => {
    expect(redactUrl(url)).toBe(url);
  });
});

describe('describeRedis', () => {
  it('prints the redacted URL, or the Sentinel group and its Sentinels (never their passwords)', () => {
    expect(describeRedis({ url: 'redis://:pw@h:6379/0' })).toBe('redis://:***@h:6379/0');
    expect(
      describeRedis({ sentinels: ['10.0.0.5:26379', '10.0.0.6:26379'], name: 'mymaster' }),
    ).toBe('sentinel:mymaster@10.0.0.5:26379,10.0.0.6:26379');
    expect(describeRedis({})).toBe('sentinel:?@');
  });
});
