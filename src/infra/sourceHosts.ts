import { SluiceError } from '../errors/index.js';

/** `scheme://[user[:password]@]` up to the host list, the host list, and the rest (`/db?…`). */
const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^/?#]*@)?)([^/?#@]*)(.*)$/s;
const HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+)(?::(\d{1,5}))?$/;

/**
 * The servers a `source.url` names: `mysql://user:pass@db1:3306,db2:3306/app`
 * lists several `host:port` pairs between the user info and the path (the
 * form of MySQL Connector/J and libpq); each comes back as a one-host URL
 * with the same credentials, database and parameters, in the order given.
 * A one-host URL comes back alone and unchanged. Throws E_CONFIG_INVALID
 * for an empty entry or a port out of range (the message never repeats the
 * URL: it may hold a password).
 */
export function splitSourceHosts(url: string): string[] {
  const m = URL_RE.exec(url);
  const hosts = m?.[2];
  if (m === null || hosts === undefined || !hosts.includes(',')) return [url];
  const prefix = m[1] ?? '';
  const rest = m[3] ?? '';
  return hosts.split(',').map((entry, i) => {
    const host = HOST_RE.exec(entry.trim());
    const port = host?.[2] === undefined ? 0 : Number(host[2]);
    if (host === null || port > 65535) {
      throw new SluiceError(
        'E_CONFIG_INVALID',
        `host ${i + 1} of the source URL ("${entry.trim()}") is not HOST or HOST:PORT`,
      );
    }
    return `${prefix}${entry.trim()}${rest}`;
  });
}

/** `host:port` of a one-host URL, for logs and `status` (no credentials). */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '3306'}`;
  } catch {
    return '?';
  }
}
