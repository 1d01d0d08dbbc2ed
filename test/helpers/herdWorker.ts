/**
 * A reader process for the herd test: waits for "go" on `<channel>:go`, then
 * fires N concurrent reads of one key through its own SluiceCache. Its
 * loader prints `load`, then waits for `<channel>:release` before it queries
 * the row, so the test decides when the first fill can land. It prints
 * `waits N` when its lease-wait count changes, and at the end
 * `{"loads":…,"values":[…]}`.
 * Usage: node --import tsx test/helpers/herdWorker.ts <channel> <key> <dbUrl> <id> <n> <leases|no-leases>
 */
import { Redis } from 'ioredis';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { unprotectedCache } from './cache.js';
import { testEnv } from './env.js';

const [channel, key, dbUrl, id, n, mode] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  'leases' | 'no-leases',
];
const redis = new Redis(testEnv.redisUrl, { enableAutoPipelining: true });
const control = new Redis(testEnv.redisUrl);
const db = await createConnection(mysqlConnectionOptions(dbUrl));
// Leases long enough that neither expires while the test holds the loader.
const cache = unprotectedCache(
  { redis, channel, l1: false, leaseMs: 60_000, leaseWaitMs: 60_000 },
  { noLeases: mode === 'no-leases' },
);
await cache.start();

let released!: () => void;
const release = new Promise<void>((r) => (released = r));
let loads = 0;
const loader = async (): Promise<unknown> => {
  loads++;
  process.stdout.write('load\n');
  await release;
  const [rows] = await db.query<RowDataPacket[]>('SELECT id, name FROM users WHERE id = ?', [id]);
  const row = rows[0];
  return row ? { id: row.id as number, name: row.name as string } : null;
};

let waits = 0;
const watch = setInterval(() => {
  const now = cache.stats().leaseWaits;
  if (now !== waits) process.stdout.write(`waits ${(waits = now)}\n`);
}, 2);

control.on('message', (ch: string) => {
  if (ch === `${channel}:release`) {
    released();
    return;
  }
  void (async () => {
    const values = await Promise.all(
      Array.from({ length: Number(n) }, () => cache.getOrSet(key, loader)),
    );
    clearInterval(watch);
    process.stdout.write(
      JSON.stringify({ loads, values: [...new Set(values.map((v) => JSON.stringify(v)))] }) + '\n',
    );
    await cache.close();
    await db.end();
    control.disconnect();
    redis.disconnect();
  })();
});
await control.subscribe(`${channel}:go`, `${channel}:release`);
process.stdout.write('ready\n');
