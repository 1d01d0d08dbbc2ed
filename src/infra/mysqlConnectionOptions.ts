import { readFileSync } from 'node:fs';
import { authPlugins, type ConnectionOptions } from 'mysql2';
import { SluiceError } from '../errors/index.js';

/**
 * mysql2 connection options from a `mysql://user:pass@host:port/db?…` URL.
 * Every connection Sluice opens (binlog, admin queries, pools) is built here.
 *
 * Query parameters:
 * - `ssl=true` (or `1`): TLS; `ssl-ca=/path` (implies TLS) trusts that CA;
 *   `ssl-reject-unauthorized=false` accepts any certificate (tests only).
 * - `server-public-key=/path.pem`: the server's RSA public key, for
 *   `caching_sha2_password` / `sha256_password` accounts reached without
 *   TLS. Over TLS the password travels inside the encrypted channel and no
 *   key is needed. Without TLS and without this key, mysql2 asks the server
 *   for its key on every full authentication (what Connector/J calls
 *   `allowPublicKeyRetrieval=true`): it works, but an active man in the
 *   middle could answer with a key of its own and learn the password.
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
      ...(ca ? { ca: readParameterFile(ca, 'ssl-ca') } : {}),
    };
  }
  const keyFile = u.searchParams.get('server-public-key');
  if (keyFile) {
    // A pinned key: the password is RSA-encrypted with it, never with a key
    // the network handed us. Both SHA-256 plugins take it.
    const serverPublicKey = readParameterFile(keyFile, 'server-public-key');
    opts.authPlugins = {
      caching_sha2_password: authPlugins.caching_sha2_password({ serverPublicKey }),
      sha256_password: authPlugins.sha256_password({ serverPublicKey }),
    };
  }
  return opts;
}

function readParameterFile(path: string, parameter: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SluiceError('E_CONFIG_INVALID', `cannot read ${parameter} file ${path}`, { cause });
  }
}
