import { createServer } from 'node:net';

/** Connection URLs of the project's own test services (scripts/services.sh). */
export const testEnv = {
  adminUrl: process.env.SLUICE_TEST_ADMIN_URL ?? 'mysql://sluice_admin:admin-secret@127.0.0.1:3307',
  sourceUrl: process.env.SLUICE_TEST_SOURCE_URL ?? 'mysql://sluice:sluice-secret@127.0.0.1:3307',
  appUrl: process.env.SLUICE_TEST_APP_URL ?? 'mysql://app:app-secret@127.0.0.1:3307',
  redisUrl: process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6380',
};

/** A short random suffix for databases, key prefixes, channels and source names. */
export function randomId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** A replica server id no other test run uses at the same time. */
export function randomServerId(): number {
  return 100_000 + Math.floor(Math.random() * 1_000_000_000);
}

/** A loopback TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
