import { Lifecycle } from '../infra/lifecycle.js';
import { InvalidArgumentError, type Command } from 'commander';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { collectProcessMetrics } from '../infra/processMetrics.js';
import { subscriberConnection } from '../bus/subscriberConnection.js';
import { describeRedis, redactUrl } from '../config/redact.js';
import { parseListen } from '../config/schema.js';
import { createPool } from '../db/createPool.js';
import { systemClock } from '../infra/clock.js';
import { startMetricsServer } from '../infra/metricsServer.js';
import { closeRedis, createRedisClient, isCluster } from '../infra/redis.js';
import { KeyTemplate } from '../keys/KeyTemplate.js';
import { CheckpointStore } from '../pipeline/checkpoint/CheckpointStore.js';
import { ReconnectingServer } from '../source-admin/ReconnectingServer.js';
import { ConsistencyMonitor } from '../verify/ConsistencyMonitor.js';
import { windowLabel } from '../verify/ConsistencyTally.js';
import { KeyProbe } from '../verify/KeyProbe.js';
import { ResourceMatcher } from '../verify/ResourceMatcher.js';
import { registerVerifyMetrics } from '../verify/VerifyMetrics.js';
import { auditResources } from './audit.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, usageError } from './output.js';

interface VerifyOptions extends GlobalOptions {
  readonly api?: string;
  readonly sampleRate?: number;
  readonly listen?: string;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'measure cache consistency all the time: check sampled invalidated keys after each window (Prometheus metrics)',
    )
    .option('--api <url>', 'also read through a sluice serve at URL, so stale L1 copies are caught')
    .option(
      '--sample-rate <r>',
      'share of invalidated resource keys checked, 0 < r <= 1 (default: verify.sampleRate)',
      parseRate,
    )
    .option('--listen <host:port>', 'address of GET /metrics (default: verify.listen)')
    .addHelpText(
      'after',
      examples(
        'sluice verify --config config/sluice.yaml',
        'sluice verify --api http://127.0.0.1:8080 --sample-rate 0.1 --listen 0.0.0.0:9466',
      ) +
        '\n\nEach confirmed stale entry is logged (key, table, binlog position, age); the metrics\n' +
        'sluice_verify_* count checks and stale entries per window and give the consistency in nines.',
    )
    .action(async (_opts: object, cmd: Command) => {
      await runVerify(cmd.optsWithGlobals<VerifyOptions>());
    });
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!/^\s*\d*\.?\d+\s*$/.test(value) || !(n > 0 && n <= 1)) {
    throw new InvalidArgumentError(`"${value}" is not a share in (0, 1].`);
  }
  return n;
}

/**
 * `sluice verify`: resolves once stopped by SIGINT/SIGTERM. Start order:
 * Redis, database pool, source admin connection, bus subscription, metrics;
 * stop in reverse, each step isolated.
 */
export async function runVerify(opts: VerifyOptions): Promise<void> {
  const { config, logger } = commandContext(opts);
  const log = logger.child({ component: 'verify' });
  const listenText = opts.listen ?? config.verify.listen;
  const listen = parseListen(listenText);
  if (listen === null) throw usageError(`--listen: "${listenText}" must be HOST:PORT`);
  if (opts.api !== undefined && !/^https?:\/\/[^/]+/.test(opts.api)) {
    throw usageError(`--api: "${opts.api}" must be an http:// or https:// URL`);
  }
  const resources = auditResources(config);
  if (resources.length === 0) throw usageError('api.resources is empty: nothing to verify');

  const lifecycle = new Lifecycle(log);
  try {
    const redis = createRedisClient(config.redis, 'verify');
    redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
    lifecycle.add('redis', () => closeRedis(redis));
    // Its own subscription connection: the monitor must see every invalidation.
    const subscriber = subscriberConnection(redis, 'sluice:verify-subscriber');
    subscriber.on('error', () => undefined); // reconnects on its own; checks fail meanwhile
    lifecycle.add('subscriber', () => subscriber.disconnect());
    const db = createPool(
      config.database.url,
      { ...config.database.pool, connectionLimit: 4, maxIdle: 4 },
      logger,
    );
    lifecycle.add('pool', () => db.end());
    const server = new ReconnectingServer(config.source.url);
    lifecycle.add('source', () => server.close());
    const checkpoints = new CheckpointStore(redis, config.source.name);

    const templates = (keys: Iterable<string>): KeyTemplate[] =>
      [...new Set(keys)].map((k) => KeyTemplate.parse(k));
    const monitor = new ConsistencyMonitor({
      bus: subscriber,
      channel: config.invalidation.channel,
      resources,
      matcher: new ResourceMatcher(
        resources,
        templates([
          ...config.rules.flatMap((r) => r.keys),
          ...Object.values(config.api.resources).flatMap((r) =>
            r.list === undefined ? [] : [r.list.key],
          ),
        ]),
      ),
      probe: new KeyProbe({ redis, db, ...(opts.api === undefined ? {} : { api: opts.api }) }),
      progress: {
        head: () => server.call((s) => s.head()),
        checkpoint: async () => (await checkpoints.read())?.position ?? null,
        // A PING on the subscription is answered after every message already
        // queued for it. A cluster relays messages between nodes: the re-read
        // delay covers that.
        sync: async () => {
          if (!isCluster(redis)) await (subscriber as Redis).ping();
        },
      },
      windowsMs: config.verify.windowsMs,
      sampleRate: opts.sampleRate ?? config.verify.sampleRate,
      maxPending: config.verify.maxPending,
      horizonMs: config.verify.horizonMs,
      confirmTimeoutMs: config.verify.confirmTimeoutMs,
      clock: systemClock,
      logger,
    });
    await monitor.start();
    lifecycle.add('monitor', () => monitor.close());

    const registry = new Registry();
    collectProcessMetrics(registry);
    registerVerifyMetrics(registry, monitor);
    const metrics = await startMetricsServer(registry, listen, config.api.token);
    lifecycle.add('metrics', () => metrics.close());
    log.info(
      {
        address: metrics.address,
        redis: describeRedis(config.redis),
        database: redactUrl(config.database.url),
        api: opts.api ?? null,
        windows: config.verify.windowsMs.map(windowLabel),
      },
      `metrics on ${metrics.address}/metrics`,
    );
  } catch (err) {
    await lifecycle.stopAll();
    throw err;
  }
  await lifecycle.runUntilSignal(logger);
  log.info('sluice verify stopped');
}
