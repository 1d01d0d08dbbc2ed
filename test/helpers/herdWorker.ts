/**
 * A second (or third) process for the herd test: waits for "go" on a Redis
 * channel, then fires N concurrent reads of one key through its own
 * SluiceCache and prints `{"loads":…,"values":[…]}`.
 * Usage: node --import tsx test/helpers/herdWorker.ts <channel> <key> <dbUrl> <id> <n>
 */
import { Redis } from 'ioredis';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { SluiceCache } from '../../src/cache/SluiceCache.js';
import { mysqlConnectionOptions } from '../../src/infra/mysqlConnectionOptions.js';
import { testEnv } from './env.js';

const [channel, key, dbUrl, id, n] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const redis = new Redis(testEnv.redisUrl, { enableAutoPipelining: true });
const control = new Redis(testEnv.redisUrl);
const db = await createConnection(mysqlConnectionOptions(dbUrl));
const cache = new SluiceCache({ redis, channel, l1: false, leaseWaitMs: 2000 });
await cache.start();

let loads = 0;
const loader = async (): Promise<unknown> => {
  loads++;
  // A slow query widens the window in which the herd arrives.
  const [rows] = await db.query<RowDataPacket[]>(
    'SELECT SLEEP(0.2) AS s, id, name FROM users WHERE id = ?',
    [id],
  );
  const row = rows[0];
  return row ? { id: row.id as number, name: row.name as string } : null;
};

await control.subscribe(`${channel}:go`);
process.stdout.write('ready\n');
control.on('message', () => {
  void (async () => {
    const values = await Promise.all(
      Array.from({ length: Number(n) }, () => cache.getOrSet(key, loader)),
    );
    process.stdout.write(
      JSON.stringify({ loads, values: [...new Set(values.map((v) => JSON.stringify(v)))] }) + '\n',
    );
    await cache.close();
    await db.end();
    control.disconnect();
    redis.disconnect();
  })();
});
