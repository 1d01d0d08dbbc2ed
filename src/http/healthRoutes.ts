import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { SluiceCache } from '../cache/SluiceCache.js';
import type { DbPool } from '../db/createPool.js';
import { sendError } from './sendError.js';

export interface HealthDeps {
  readonly cache: SluiceCache;
  readonly pool: DbPool;
  readonly registry: Registry;
  /** When set, `/metrics` requires `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
}

/**
 * - `GET /healthz`: 200 while the process runs (liveness);
 * - `GET /readyz`: 200 when Redis, MySQL and the invalidation subscription
 *   are all up, else 503 `{"status":"degraded", …}` (the API still answers
 *   from the database meanwhile; it is just not fully cached/consistent-fast);
 * - `GET /metrics`: the Prometheus registry as text.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', async (_req, reply) => reply.send({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const health = deps.cache.health();
    const mysql = await deps.pool.ping(1000);
    const ready = health.redis && health.subscribed && mysql;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'degraded',
      redis: health.redis,
      mysql,
      subscribed: health.subscribed,
      // Informational: L1 also needs a fresh daemon heartbeat.
      l1: health.l1Usable,
    });
  });

  const expected = deps.token === undefined ? undefined : digest(`Bearer ${deps.token}`);
  app.get('/metrics', async (req, reply) => {
    if (expected !== undefined) {
      const given = digest(req.headers.authorization ?? '');
      if (!timingSafeEqual(given, expected)) {
        void reply.header('www-authenticate', 'Bearer');
        return sendError(
          reply,
          401,
          'E_UNAUTHORIZED',
          '/metrics needs Authorization: Bearer <api.token>',
        );
      }
    }
    const text = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(text);
  });
}

/** Equal-length digests, so the comparison takes the same time whatever the input. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
