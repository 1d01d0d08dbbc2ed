import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { collectProcessMetrics } from '../infra/processMetrics.js';
import type { SluiceCache } from '../cache/SluiceCache.js';
import type { SluiceConfig } from '../config/schema.js';
import { columnKinds } from '../db/columnKinds.js';
import type { DbPool } from '../db/createPool.js';
import { registerHealthRoutes } from './healthRoutes.js';
import { registerHttpMetrics } from './httpMetrics.js';
import { Resource } from './Resource.js';
import { DEFAULT_LIMIT, MAX_LIMIT, registerResourceRoutes } from './resourceRoutes.js';
import { sendError } from './sendError.js';

export interface BuildServerOptions {
  /** `api.resources` and `api.token` are used; the caller listens on `api.listen`. */
  readonly config: SluiceConfig;
  /** A started (or soon started) cache on the daemon's invalidation channel. */
  readonly cache: SluiceCache;
  readonly pool: DbPool;
  readonly logger: Logger;
  /** Receives the HTTP and process metrics (pass the cache's registry to get all of them on /metrics). */
  readonly registry: Registry;
  /** Rows in the cached first page of a list (default 50, the default limit). */
  readonly firstPageSize?: number;
}

/**
 * The read API: routes generated from `api.resources`, health and metrics.
 * Reads the kinds of the key columns from INFORMATION_SCHEMA first, so ids
 * are validated as their column's type; bad input of any kind is a 400
 * `{"error":{"code":"E_BAD_REQUEST","message"}}`, only real failures are 500.
 */
export async function buildServer(options: BuildServerOptions): Promise<FastifyInstance> {
  const { config, cache, pool, registry } = options;
  const firstPageSize = options.firstPageSize ?? DEFAULT_LIMIT;
  if (!Number.isInteger(firstPageSize) || firstPageSize < 1 || firstPageSize > MAX_LIMIT) {
    throw new RangeError(
      `buildServer: firstPageSize must be 1..${MAX_LIMIT}, got ${firstPageSize}`,
    );
  }
  // Typed as fastify's logger interface so the instance is a plain FastifyInstance.
  const log: FastifyBaseLogger = options.logger.child({ component: 'http' });

  const resources = await Promise.all(
    Object.entries(config.api.resources).map(
      async ([name, resource]) =>
        new Resource(name, resource, await columnKinds(pool, resource.table)),
    ),
  );

  const app = Fastify({
    loggerInstance: log,
    // Per-request lines would dominate the log; failures are logged below
    // and every request is counted in /metrics.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 2048 },
    // Unknown query parameters are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // A malformed URL (bad percent-encoding) is bad input too.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, 400, 'E_BAD_REQUEST', err.message);
    },
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation !== undefined) {
      return sendError(reply, 400, 'E_BAD_REQUEST', validationMessage(err));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return sendError(reply, 400, 'E_BAD_REQUEST', err.message);
    }
    req.log.error({ err, route: req.routeOptions.url }, 'request failed');
    return sendError(reply, 500, 'E_INTERNAL', 'internal error (logged)');
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, 'E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`),
  );

  if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    collectProcessMetrics(registry);
  }
  registerHttpMetrics(app, registry);
  registerHealthRoutes(app, { cache, pool, registry, token: config.api.token });
  for (const resource of resources) {
    registerResourceRoutes(app, resource, {
      cache,
      pool,
      firstPageSize,
    });
  }
  return app;
}

/** `querystring/limit must be <= 500`, naming an unknown parameter instead of "additional properties". */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (first?.keyword === 'additionalProperties') {
    const name = (first.params as { additionalProperty?: unknown }).additionalProperty;
    return `unknown ${err.validationContext === 'querystring' ? 'query parameter' : 'parameter'} "${String(name)}"`;
  }
  return err.message;
}
