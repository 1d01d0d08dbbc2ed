/** The first `scheme://` in the text (not only at its start: a value may carry leading spaces). */
const SCHEME_RE = /[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const SECRET_PARAM_RE = /([?&](?:password|passwd|pass|pwd|secret|token)=)[^&#]*/gi;

/**
 * The URL with its password replaced by `***`, for logs and error messages.
 * Works on text that is not a valid URL too (that is when it is printed in an
 * error): the user info is taken to end at the LAST `@`, so a password with an
 * unencoded `@` or `/` is still hidden, and to start after the first
 * `scheme://`, or at the start of the text when there is none (`mysql//u:pw@h`,
 * `u:pw@h`), so a mistyped scheme or a leading space does not print the
 * password either. Over-redacting (a URL whose path holds an `@`, a user name
 * in text without a scheme) is the accepted price. `password=`-style query
 * parameters are redacted as well.
 */
export function redactUrl(url: string): string {
  let out = url;
  const at = url.lastIndexOf('@');
  if (at >= 0) {
    const scheme = SCHEME_RE.exec(url);
    const start = scheme === null ? 0 : scheme.index + scheme[0].length;
    const colon = url.indexOf(':', start);
    if (colon >= 0 && colon < at) out = `${url.slice(0, colon)}:***${url.slice(at)}`;
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
