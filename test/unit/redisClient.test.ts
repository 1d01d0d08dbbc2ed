import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/infra/redis.js';

describe('createRedisClient with redis.sentinels', () => {
  it('asks the Sentinels for the primary, passing credentials, database and TLS through', () => {
    const client = createRedisClient(
      {
        sentinels: ['10.0.0.5:26379', '[::1]:26380'],
        name: 'mymaster',
        username: 'app',
        password: 'data-secret',
        db: 2,
        tls: true,
        sentinelUsername: 'watcher',
        sentinelPassword: 'sentinel-secret',
        sentinelTls: true,
      },
      'sink',
      { lazyConnect: true },
    );
    try {
      expect(client).toBeInstanceOf(Redis);
      expect((client as Redis).options).toMatchObject({
        sentinels: [
          { host: '10.0.0.5', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        name: 'mymaster',
        role: 'master',
        failoverDetector: true,
        username: 'app',
        password: 'data-secret',
        db: 2,
        tls: {},
        enableTLSForSentinelMode: true,
        sentinelUsername: 'watcher',
        sentinelPassword: 'sentinel-secret',
        sentinelTLS: {},
        connectionName: 'sluice:sink',
      });
    } finally {
      client.disconnect();
    }
  });

  it('leaves out what is not configured; a URL still makes a plain client', () => {
    const sentinel = createRedisClient({ sentinels: ['h:26379'], name: 'm' }, 'cli', {
      lazyConnect: true,
    }) as Redis;
    const plain = createRedisClient({ url: 'redis://h:6379/3' }, 'cli', {
      lazyConnect: true,
    }) as Redis;
    try {
      expect(sentinel.options.password ?? null).toBe(null);
      expect(sentinel.options.sentinelPassword).toBeUndefined();
      expect(sentinel.options.tls).toBeUndefined();
      expect(sentinel.options.enableTLSForSentinelMode).toBe(false);
      expect(plain.options.sentinels ?? null).toBe(null);
      expect(plain.options).toMatchObject({ host: 'h', port: 6379, db: 3 });
    } finally {
      sentinel.disconnect();
      plain.disconnect();
    }
  });

  it('a server demoted under a live connection (READONLY) makes the client reconnect', () => {
    const client = createRedisClient({ url: 'redis://h:6379' }, 'sink', {
      lazyConnect: true,
    }) as Redis;
    try {
      const decide = client.options.reconnectOnError;
      expect(decide?.(new Error("READONLY You can't write against a read only replica."))).toBe(
        true,
      );
      expect(decide?.(new Error('ERR wrong number of arguments'))).toBe(false);
    } finally {
      client.disconnect();
    }
  });
});
