import type { Command } from 'commander';
import { Lifecycle } from '../infra/lifecycle.js';
import { cacheOptions } from './cacheFromConfig.js';
import type { Cluster, Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { SluiceCache } from '../cache/SluiceCache.js';
import { checkAgainstSchema } from '../config/liveCheck.js';
import { describeRedis, redactUrl } from '../config/redact.js';
import { parseListen } from '../config/schema.js';
import { createPool } from '../db/createPool.js';
import { SchemaLookup } from '../db/schemaLookup.js';
import { SluiceError } from '../errors/index.js';
import { buildServer } from '../http/buildServer.js';
import { closeRedis, createRedisClient } from '../infra/redis.js';
import { commandContext, type GlobalOptions } from './context.js';

interface ServeOptions extends GlobalOptions {
  readonly listen?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the read API: cached rows, lists and pages over HTTP (api.resources)')
    .option('--listen <host:port>', 'address to listen on (default: api.listen, 127.0.0.1:8080)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sluice serve --config config/sluice.yaml\n  $ curl -i http://127.0.0.1:8080/v1/users/1',
    )
    .action(async (_opts: object, cmd: Command) => {
      await runServe(cmd.optsWithGlobals<ServeOptions>());
    });
}

/**
 * `sluice serve`: resolves once the server stopped on SIGINT/SIGTERM.
 * Start order: schema check, Redis, cache subscription, pool, HTTP; stop
 * runs in reverse, each step isolated so one failure does not leave the
 * others open.
 */
export async function runServe(opts: ServeOptions): Promise<void> {
  const { config, logger } = commandContext(opts);
  const log = logger.child({ component: 'serve' });
  const listenText = opts.listen ?? config.api.listen;
  const listen = parseListen(listenText);
  if (listen === null) {
    throw new SluiceError('E_USAGE', `--listen: "${listenText}" must be HOST:PORT`, {
      details: { listen: listenText },
    });
  }
  log.info(
    {
      database: redactUrl(config.database.url),
      redis: describeRedis(config.redis),
      resources: Object.keys(config.api.resources),
    },
    'sluice serve starting',
  );
  if (Object.keys(config.api.resources).length === 0) {
    log.warn('api.resources is empty: only /healthz, /readyz and /metrics are served');
  }

  // Templates and API columns must match the live tables before serving.
  const schema = new SchemaLookup(config.source.url);
  try {
    await checkAgainstSchema(config, schema.columns);
  } finally {
    await schema.close();
  }

  const registry = new Registry();
  // No offline queue: while Redis is unreachable a cache command fails at
  // once and the read goes to the database, instead of waiting for the next
  // reconnect attempt (seconds per request).
  const redis = createRedisClient(config.redis, 'cache', {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
  });
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const cache = new SluiceCache({
    redis,
    ...cacheOptions(config),
    logger,
    registry,
  });
  const pool = createPool(config.database.url, config.database.pool, logger);

  const lifecycle = new Lifecycle(log);

  try {
    lifecycle.add('redis', () => closeRedis(redis));
    lifecycle.add('pool', () => pool.end());
    if (!(await ready(redis, 5000))) {
      log.warn(
        { code: 'E_REDIS', redis: describeRedis(config.redis) },
        'redis unreachable: serving from the database until it is back (/readyz: degraded)',
      );
    }
    await cache.start();
    lifecycle.add('cache', () => cache.close());
    const app = await buildServer({ config, cache, pool, logger, registry });
    lifecycle.add('http', () => app.close());
    const address = await app.listen({ host: listen.host, port: listen.port });
    log.info({ address, resources: Object.keys(config.api.resources) }, `listening on ${address}`);
  } catch (err) {
    await lifecycle.stopAll();
    throw err;
  }

  await lifecycle.runUntilSignal(logger);
  log.info('sluice serve stopped');
}

/** Waits up to `ms` for the client's first connection; false if it did not come. */
function ready(redis: Redis | Cluster, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, ms);
    redis.once('ready', onReady);
  });
}
