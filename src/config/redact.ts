const SECRET_PARAM_RE = /([?&](?:password|passwd|pass|pwd|secret|token)=)[^&#]*/gi;

/**
 * The URL with its password replaced by `***`, for logs and error messages.
 * Works on text that is not a valid URL too (that is when it is printed in an
 * error): the user info is taken to end at the LAST `@`, so a password with an
 * unencoded `@` or `/` is still hidden, and to start after the first `://`
 * before that `@`, or at the start of the text when there is none
 * (`mysql//u:pw@h`, `u:pw@h`), so a mistyped scheme or a leading space does
 * not print the password either. Over-redacting (a URL whose path holds an
 * `@`, a user name in text without a scheme) is the accepted price.
 * `password=`-style query parameters are redacted as well.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  const scheme = url.indexOf('://');
  // A `://` after the last `@` belongs to the path or query, not to a scheme.
  const colon = url.indexOf(':', scheme >= 0 && scheme < at ? scheme + 3 : 0);
  const out = colon >= 0 && colon < at ? `${url.slice(0, colon)}:***${url.slice(at)}` : url;
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
