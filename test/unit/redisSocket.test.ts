import { describe, expect, it } from 'vitest';
import { isRedisSocketUrl, parseRedisSocketUrl } from '../../src/infra/redisSocket.js';

describe('redis.url as a Unix socket', () => {
  it('gives the socket path, the database and the credentials, decoded', () => {
    expect(parseRedisSocketUrl('unix:///run/redis/redis.sock')).toEqual({
      path: '/run/redis/redis.sock',
    });
    expect(parseRedisSocketUrl('unix:///tmp/my%20redis.sock?db=1000000')).toEqual({
      path: '/tmp/my redis.sock',
      db: 1_000_000,
    });
    expect(parseRedisSocketUrl('unix://sl%40ice:p%3Ass@localhost/run/r.sock?db=0')).toEqual({
      path: '/run/r.sock',
      username: 'sl@ice',
      password: 'p:ss',
      db: 0,
    });
    expect(parseRedisSocketUrl('unix://:only-password@localhost/run/r.sock')).toEqual({
      path: '/run/r.sock',
      password: 'only-password',
    });
  });

  it('refuses what names no socket on this machine, never repeating a password', () => {
    const errors = [
      'unix://u:hunter2@cache1/run/redis.sock',
      'unix:///',
      'unix://localhost',
      'unix:///run/redis/',
      'unix:///run/r.sock?db=1&timeout=5',
      'unix:///run/r.sock?db=-1',
      'unix:///run/r.sock?db=1000001',
      'unix://u:hunter2@/run/redis.sock',
      'unix:///run/r%ZZ.sock',
      'unix://u:hunter2%E0@localhost/run/r.sock',
      'redis://127.0.0.1:6379',
    ].map((url) => {
      const parsed = parseRedisSocketUrl(url);
      return 'error' in parsed ? parsed.error : 'accepted';
    });
    expect(errors).toEqual([
      'names host "cache1": a Unix socket is on this machine (localhost)',
      'names no socket file (unix:///path/to/redis.sock)',
      'names no socket file (unix:///path/to/redis.sock)',
      'names no socket file (unix:///path/to/redis.sock)',
      'has parameter "timeout": only db is understood',
      'has db that is not a number 0 to 1000000',
      'has db that is not a number 0 to 1000000',
      'is not a valid URL (unix:///path/to/redis.sock, credentials as unix://user:password@localhost/path)',
      'has a malformed %-escape',
      'has a malformed %-escape',
      'is not a unix: URL',
    ]);
    expect(errors.join('\n')).not.toContain('hunter2');
  });

  it('tells a socket URL by its scheme, in any case', () => {
    expect(
      ['unix:///a', 'UNIX:///a', 'redis://h', '/tmp/redis.sock'].map(isRedisSocketUrl),
    ).toEqual([true, true, false, false]);
  });
});
