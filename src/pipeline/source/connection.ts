import type { ConnectionOptions } from 'mysql2';
import { SluiceError } from '../../errors/index.js';

/**
 * mysql2 connection options from a `mysql://user:pass@host:port/db?ssl=...`
 * URL. TLS options pass through as query parameters: `ssl=true`,
 * `ssl-ca=/path`, `ssl-reject-unauthorized=false`.
 */
export function mysqlConnectionOptions(
  url: string,
  extra: Partial<ConnectionOptions> = {},
): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new SluiceError('E_CONFIG_INVALID', 'invalid MySQL URL', { cause });
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const opts: ConnectionOptions = {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    charset: 'UTF8MB4_UNICODE_CI',
    ...extra,
  };
  if (database) opts.database = database;
  const ssl = u.searchParams.get('ssl');
  const ca = u.searchParams.get('ssl-ca');
  if (ssl === 'true' || ssl === '1' || ca) {
    opts.ssl = {
      rejectUnauthorized: u.searchParams.get('ssl-reject-unauthorized') !== 'false',
      ...(ca ? { ca: readFileSyncSafe(ca) } : {}),
    };
  }
  return opts;
}

import { readFileSync } from 'node:fs';

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SluiceError('E_CONFIG_INVALID', `cannot read ssl-ca file ${path}`, { cause });
  }
}
