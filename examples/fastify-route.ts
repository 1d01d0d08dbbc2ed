/**
 * A fastify service that embeds Sluice's cache for `GET /users/:id`.
 *
 * Reads go L1 (in process) → L2 (Redis) → MySQL, and stay correct without
 * a single line of invalidation code here: the `sluice run` daemon reads the
 * binlog and drops `user:{id}` from Redis and from this process's L1
 * whenever a users row changes, whoever changed it.
 *
 *   npx tsx examples/fastify-route.ts      # config from config/sluice.yaml or $SLUICE_CONFIG
 *   curl -i http://127.0.0.1:3000/users/1
 */
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { KeyTemplate, SluiceCache, createRedisClient, loadConfig, type SluiceConfig } from 'sluice';

export interface AppOptions {
  /** Default: loadConfig() (config/sluice.yaml, or the file named by SLUICE_CONFIG). */
  readonly config?: SluiceConfig;
  /** The key template of the daemon's rule for the users table (default `user:{id}`). */
  readonly userKey?: string;
}

interface User {
  id: string;
  email: string | null;
  name: string | null;
}

export async function buildApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const config = options.config ?? loadConfig();
  // The same template text as the daemon's rule, rendered by the same code:
  // the key this process caches is exactly the key the daemon deletes.
  const userKey = KeyTemplate.parse(options.userKey ?? 'user:{id}');

  // The daemon's Redis: one server, a Sentinel group or a cluster (`redis.*`).
  const redis = createRedisClient(config.redis, 'app');
  const db = createPool({
    uri: config.database.url,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  const cache = new SluiceCache({
    redis,
    channel: config.invalidation.channel, // where the daemon publishes its invalidations
    l1: { maxEntries: 10_000, ttlMs: 60_000 },
    ttlMs: 5 * 60_000,
  });
  await cache.start(); // subscribe: L1 is used only while the daemon's heartbeat is fresh

  const app = Fastify();
  app.get<{ Params: { id: string } }>(
    '/users/:id',
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[0-9]{1,20}$' } },
          required: ['id'],
        },
      },
    },
    async (req, reply) => {
      const id = BigInt(req.params.id).toString(); // "007" and "7" must share one key
      const key = userKey.render({ id });
      if (key === null) throw new Error('unreachable: id is never null');
      const user = await cache.getOrSet<User>(key, async () => {
        const [rows] = await db.query<RowDataPacket[]>(
          'SELECT id, email, name FROM users WHERE id = ?',
          [id],
        );
        return (rows[0] as User | undefined) ?? null; // null is cached too, as "no such user"
      });
      if (user === null) return reply.code(404).send({ error: 'no such user' });
      return user;
    },
  );

  app.addHook('onClose', async () => {
    await cache.close(); // unsubscribes
    await redis.quit();
    await db.end();
  });
  return app;
}

// Run directly (not when imported by a test).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const app = await buildApp();
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
  console.log(`listening: curl -i ${address}/users/1`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void app.close());
  }
}
