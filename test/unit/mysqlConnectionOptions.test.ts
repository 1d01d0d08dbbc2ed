import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authPlugins, type AuthPlugin, type Connection } from 'mysql2';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';

/**
 * The options every Sluice connection is built from, and what they mean for
 * MySQL 8's default `caching_sha2_password`: the auth plugins are driven here
 * with the packets a MySQL 8.4 server sends (fast-auth miss → "perform full
 * authentication", 0x04), so no MySQL server is needed.
 */

const dir = mkdtempSync(join(tmpdir(), 'sluice-conn-'));
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nfixture\n-----END CERTIFICATE-----\n');
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyFile = join(dir, 'public_key.pem');
writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));

const SCRAMBLE = Buffer.from('0123456789abcdefghij'); // the 20-byte nonce of the handshake
const FULL_AUTH = Buffer.from([4]); // caching_sha2: not in the server's cache
const REQUEST_PUBLIC_KEY = Buffer.from([2]);

/** Runs a caching_sha2_password exchange up to the client's answer to "full authentication". */
function fullAuthAnswer(plugin: AuthPlugin, config: { password: string; ssl?: unknown }): unknown {
  const connection = { config } as unknown as Connection;
  const step = plugin({ connection, command: 'ClientHandshake' });
  // First packet: the scramble, answered with the SHA-256 token (synchronous in mysql2).
  expect(Buffer.isBuffer(step(SCRAMBLE))).toBe(true);
  return step(FULL_AUTH);
}

/** What the server recovers with its private key: password\0 XOR the scramble, rotating. */
function decryptPassword(encrypted: Buffer): string {
  const plain = privateDecrypt(
    { key: privateKey, oaepHash: 'sha1', padding: constants.RSA_PKCS1_OAEP_PADDING },
    encrypted,
  );
  const out = Buffer.alloc(plain.length);
  for (let i = 0; i < plain.length; i++) {
    out[i] = (plain[i] ?? 0) ^ (SCRAMBLE[i % SCRAMBLE.length] ?? 0);
  }
  return out.toString('utf8');
}

describe('mysqlConnectionOptions', () => {
  it('takes host, port, user, password and database from the URL, decoded', () => {
    const o = mysqlConnectionOptions('mysql://sl%40ice:p%3Ass@db.internal:3310/app%5F1');
    expect(o).toMatchObject({
      host: 'db.internal',
      port: 3310,
      user: 'sl@ice',
      password: 'p:ss',
      database: 'app_1',
      charset: 'UTF8MB4_UNICODE_CI',
    });
    expect(o.ssl).toBeUndefined();
    expect(o.authPlugins).toBeUndefined();
    expect(mysqlConnectionOptions('mysql://u@h').port).toBe(3306);
  });

  it('passes TLS through: ssl=true verifies the certificate, ssl-ca reads the CA file', () => {
    expect(mysqlConnectionOptions('mysql://u:p@h/db?ssl=true').ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(mysqlConnectionOptions('mysql://u:p@h/db?ssl=1').ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(mysqlConnectionOptions(`mysql://u:p@h/db?ssl-ca=${caFile}`).ssl).toEqual({
      rejectUnauthorized: true,
      ca: '-----BEGIN CERTIFICATE-----\nfixture\n-----END CERTIFICATE-----\n',
    });
    expect(
      mysqlConnectionOptions('mysql://u:p@h/db?ssl=true&ssl-reject-unauthorized=false').ssl,
    ).toEqual({ rejectUnauthorized: false });
    expect(mysqlConnectionOptions('mysql://u:p@h/db?ssl=false').ssl).toBeUndefined();
  });

  it('keeps the caller’s extra options next to the URL ones', () => {
    const o = mysqlConnectionOptions('mysql://u:p@h/db?ssl=true', { timezone: 'Z' });
    expect(o).toMatchObject({ timezone: 'Z', ssl: { rejectUnauthorized: true } });
  });

  it('an unreadable ssl-ca or server-public-key file is E_CONFIG_INVALID naming the parameter', () => {
    for (const [param, message] of [
      ['ssl-ca', 'cannot read ssl-ca file /nonexistent/ca.pem'],
      ['server-public-key', 'cannot read server-public-key file /nonexistent/ca.pem'],
    ] as const) {
      let err: unknown;
      try {
        mysqlConnectionOptions(`mysql://u:p@h/db?${param}=/nonexistent/ca.pem`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SluiceError);
      expect((err as SluiceError).code).toBe('E_CONFIG_INVALID');
      expect((err as SluiceError).message).toBe(message);
    }
  });
});

describe('caching_sha2_password (MySQL 8 default) through these options', () => {
  it('over TLS (ssl=true) the password goes inside the encrypted channel: no RSA key needed', () => {
    const o = mysqlConnectionOptions('mysql://sluice:s3cret@h/db?ssl=true');
    const answer = fullAuthAnswer(authPlugins.caching_sha2_password({}), {
      password: 's3cret',
      ssl: o.ssl,
    });
    expect(answer).toEqual(Buffer.from('s3cret\0'));
  });

  it('without TLS and without a key, mysql2 asks the server for its public key (retrieval)', () => {
    const o = mysqlConnectionOptions('mysql://sluice:s3cret@h/db');
    expect(o.authPlugins).toBeUndefined(); // mysql2's default plugin is used
    const answer = fullAuthAnswer(authPlugins.caching_sha2_password({}), { password: 's3cret' });
    expect(answer).toEqual(REQUEST_PUBLIC_KEY);
  });

  it('server-public-key pins the key: the password is encrypted with it, nothing is requested', () => {
    const o = mysqlConnectionOptions(`mysql://sluice:s3cret@h/db?server-public-key=${keyFile}`);
    const caching = o.authPlugins?.caching_sha2_password;
    const sha256 = o.authPlugins?.sha256_password;
    expect(caching).toBeTypeOf('function');
    expect(sha256).toBeTypeOf('function');
    const answer = fullAuthAnswer(caching as AuthPlugin, { password: 's3cret' });
    expect(Buffer.isBuffer(answer)).toBe(true);
    expect(answer).not.toEqual(REQUEST_PUBLIC_KEY);
    expect(decryptPassword(answer as Buffer)).toBe('s3cret\0');
  });

  it('sha256_password with a pinned key encrypts on the first packet', () => {
    const o = mysqlConnectionOptions(`mysql://sluice:s3cret@h/db?server-public-key=${keyFile}`);
    const plugin = o.authPlugins?.sha256_password as AuthPlugin;
    const connection = {
      config: { password: 's3cret' },
      stream: {},
    } as unknown as Connection;
    const answer = plugin({ connection, command: 'ClientHandshake' })(SCRAMBLE);
    expect(decryptPassword(answer as Buffer)).toBe('s3cret\0');
  });
});
