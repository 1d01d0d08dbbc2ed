const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const SECRET_PARAM_RE = /([?&](?:password|passwd|pass|pwd|secret|token)=)[^&#]*/gi;

/**
 * The URL with its password replaced by `***`, for logs and error messages.
 * Works on text that is not a valid URL too (that is when it is printed in an
 * error): the user info is taken to end at the LAST `@`, so a password with an
 * unencoded `@` or `/` is still hidden. Over-redacting a URL whose path holds
 * an `@` is the accepted price. `password=`-style query parameters are
 * redacted as well.
 */
export function redactUrl(url: string): string {
  let out = url;
  const scheme = SCHEME_RE.exec(url);
  if (scheme !== null) {
    const start = scheme[0].length;
    const at = url.lastIndexOf('@');
    const colon = url.indexOf(':', start);
    if (at > start && colon >= 0 && colon < at) {
      out = `${url.slice(0, colon)}:***${url.slice(at)}`;
    }
  }
  return out.replace(SECRET_PARAM_RE, '$1***');
}

/**
 * Where `redis.*` points, for logs and error messages: the redacted URL, or
 * the Sentinel group and its Sentinels (their passwords are separate fields,
 * never printed).
 */
export function describeRedis(redis: {
  readonly url?: string | undefined;
  readonly sentinels?: readonly string[] | undefined;
  readonly name?: string | undefined;
}): string {
  if (redis.url !== undefined) return redactUrl(redis.url);
  return `sentinel:${redis.name ?? '?'}@${(redis.sentinels ?? []).join(',')}`;
}
