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

/** The highest database number, as for `redis.db`. */
const MAX_DB = 1_000_000;

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
  let path: string;
  let username: string;
  let password: string;
  try {
    path = decodeURIComponent(u.pathname);
    username = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    return { error: 'has a malformed %-escape' };
  }
  if (path === '' || path === '/' || path.endsWith('/')) {
    return { error: 'names no socket file (unix:///path/to/redis.sock)' };
  }
  let db: number | undefined;
  for (const [name, value] of u.searchParams) {
    if (name !== 'db') return { error: `has parameter "${name}": only db is understood` };
    if (!/^\d{1,7}$/.test(value) || Number(value) > MAX_DB) {
      return { error: `has db that is not a number 0 to ${MAX_DB}` };
    }
    db = Number(value);
  }
  return {
    path,
    ...(username === '' ? {} : { username }),
    ...(password === '' ? {} : { password }),
    ...(db === undefined ? {} : { db }),
  };
}
