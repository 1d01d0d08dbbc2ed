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
