/**
 * `redis.url` naming a co-located server's Unix socket:
 * `unix:///run/redis/redis.sock`, with a database as `?db=N` and ACL
 * credentials as user info on `localhost`
 * (`unix://sluice:secret@localhost/run/redis/redis.sock?db=2`).
 *
 * A socket skips the TCP stack on both ends: on one machine a round trip
 * costs the daemon less CPU than over 127.0.0.1 (docs/benchmarks.md).
 */
export interface RedisSocketTarget {
  readonly path: string;
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
}

/** True when `url` is meant as a Unix socket URL (whether or not it is a valid one). */
export function isRedisSocketUrl(url: string): boolean {
  return /^unix:/i.test(url);
}

/**
 * The socket, credentials and database of a `unix:` URL, or the reason it is
 * not one (the reason never repeats the URL: it may hold a password).
 */
export function parseRedisSocketUrl(url: string): RedisSocketTarget | { readonly error: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {
      error:
        'is not a valid URL (unix:///path/to/redis.sock, credentials as unix://user:password@localhost/path)',
    };
  }
  if (u.protocol !== 'unix:') return { error: 'is not a unix: URL' };
  if (u.hostname !== '' && u.hostname !== 'localhost') {
    return { error: `names host "${u.hostname}": a Unix socket is on this machine (localhost)` };
  }
  const path = decodeURIComponent(u.pathname);
  if (path === '' || path === '/' || path.endsWith('/')) {
    return { error: 'names no socket file (unix:///path/to/redis.sock)' };
  }
  let db: number | undefined;
  for (const [name, value] of u.searchParams) {
    if (name !== 'db') return { error: `has parameter "${name}": only db is understood` };
    if (!/^\d{1,7}$/.test(value)) return { error: 'has db that is not a number 0 to 9999999' };
    db = Number(value);
  }
  return {
    path,
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    ...(db === undefined ? {} : { db }),
  };
}
