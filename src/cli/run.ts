import type { Command } from 'commander';
import { checkAgainstSchema } from '../config/liveCheck.js';
import { describeRedis, redactUrl } from '../config/redact.js';
import { Registry } from 'prom-client';
import { collectProcessMetrics } from '../infra/processMetrics.js';
import { buildMappingRules, parseListen } from '../config/schema.js';
import { SchemaLookup } from '../db/schemaLookup.js';
import { systemClock } from '../infra/clock.js';
import { startMetricsServer } from '../infra/metricsServer.js';
import { closeRedis, createRedisClient } from '../infra/redis.js';
import { onShutdownSignal } from '../infra/signals.js';
import { DaemonJobs } from '../jobs/DaemonJobs.js';
import { SluiceError } from '../errors/index.js';
import { CheckpointStore } from '../pipeline/checkpoint/CheckpointStore.js';
import { LeaderLease } from '../pipeline/checkpoint/LeaderLease.js';
import { newInstanceId } from '../pipeline/checkpoint/StatusRecord.js';
import { registerDaemonMetrics } from '../pipeline/DaemonMetrics.js';
import { Invalidator } from '../pipeline/Invalidator.js';
import { BinlogRetentionWatch } from '../source-admin/BinlogRetention.js';
import { ReconnectingServer } from '../source-admin/ReconnectingServer.js';
import { checkSource } from '../source-admin/sourceChecks.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, usageError } from './output.js';

/** How often `sluice_source_*` (binlog retention, lag in bytes) are refreshed. */
const RETENTION_POLL_MS = 10_000;

/** Source checks whose failure makes the binlog unusable: `sluice run` refuses to start. */
const FATAL_CHECKS = new Set([
  'connect',
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'binlog_row_metadata',
  'server_id',
]);

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the invalidation daemon: binlog → Redis UNLINK + PUBLISH, checkpointed')
    .option(
      '--metrics-listen <host:port>',
      'serve GET /metrics and /healthz here (default: metrics.listen, off when unset)',
    )
    .addHelpText(
      'after',
      examples(
        'sluice run --config config/sluice.yaml',
        'sluice run --metrics-listen 0.0.0.0:9464',
      ),
    )
    .action(async (_opts: object, cmd: Command) => {
      await runDaemon(cmd.optsWithGlobals<RunOptions>());
    });
}

interface RunOptions extends GlobalOptions {
  readonly metricsListen?: string;
}

/** `sluice run`: resolves when the daemon stopped cleanly, rejects on a fatal error. */
export async function runDaemon(opts: RunOptions): Promise<void> {
  const { config, logger } = commandContext(opts);
  const log = logger.child({ component: 'run' });
  const metricsText = opts.metricsListen ?? config.metrics.listen;
  const metricsListen = metricsText === undefined ? null : parseListen(metricsText);
  if (metricsText !== undefined && metricsListen === null) {
    throw usageError(`--metrics-listen: "${metricsText}" must be HOST:PORT`);
  }
  log.info(
    {
      source: config.source.name,
      url: redactUrl(config.source.url),
      redis: describeRedis(config.redis),
      tables: config.rules.map((r) => r.table),
    },
    'sluice starting',
  );

  // The binlog settings the correctness rules depend on (as `sluice check-source`).
  const checks = await checkSource(config.source.url, config);
  for (const c of checks.filter(
    (x) => x.status === 'warn' || (x.status === 'fail' && !FATAL_CHECKS.has(x.id)),
  )) {
    log.warn({ check: c.id, fix: c.fix }, c.message);
  }
  const fatal = checks.filter((c) => c.status === 'fail' && FATAL_CHECKS.has(c.id));
  if (fatal.length > 0) {
    throw new SluiceError(
      'E_SOURCE_SETTINGS',
      `the source server cannot be used:\n${fatal.map((c) => `  ${c.id}: ${c.message}${c.fix ? ` (fix: ${c.fix})` : ''}`).join('\n')}`,
      { details: { failed: fatal.map((c) => c.id) } },
    );
  }

  // Templates must match the live tables before a single event is read.
  const schema = new SchemaLookup(config.source.url);
  try {
    await checkAgainstSchema(config, schema.columns);
  } catch (err) {
    await schema.close();
    throw err;
  }

  // A single Redis, a Sentinel group or a cluster: the sink, the checkpoint,
  // the leader lease and the status record all use this client.
  const redis = createRedisClient(config.redis, 'sink');
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  // Durable jobs: the write-behind worker and the delayed second delete,
  // whose queue the sink feeds with every acknowledged batch.
  const jobs = new DaemonJobs({ config, logger });
  const instance = newInstanceId();
  const lease = new LeaderLease({
    redis,
    source: config.source.name,
    instance,
    leaseMs: config.source.leaderLeaseMs,
    logger,
  });
  const daemon = new Invalidator({
    instance,
    fence: { key: lease.fenceKey, token: () => lease.token, confirm: () => lease.confirm() },
    source: config.source,
    invalidation: config.invalidation,
    rules: buildMappingRules(config),
    redis,
    replicaWait:
      config.redis.waitReplicas > 0
        ? { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs }
        : null,
    logger,
    columns: schema.columns,
    ...(jobs.secondDelete === undefined ? {} : { secondDelete: jobs.secondDelete }),
  });
  let leading = false;
  // Prometheus metrics on `metrics.listen` (off when unset).
  const registry = new Registry();
  collectProcessMetrics(registry);
  registerDaemonMetrics(
    registry,
    () => daemon,
    () => leading && lease.token > 0,
  );
  // The checkpoint against the binlogs the server keeps: alerts fire before a purge takes it.
  const adminServer = new ReconnectingServer(config.source.url);
  const checkpoints = new CheckpointStore(redis, config.source.name);
  const retention = new BinlogRetentionWatch(
    {
      binaryLogs: () => adminServer.call((s) => s.binaryLogs()),
      head: () => adminServer.call((s) => s.head()),
      checkpoint: async () => (await checkpoints.read())?.position ?? null,
    },
    {
      clock: systemClock,
      intervalMs: RETENTION_POLL_MS,
      onError: (err) => log.debug({ err: err.message }, 'binlog retention poll failed'),
    },
  );
  retention.register(registry);
  const metrics =
    metricsListen === null
      ? null
      : await startMetricsServer(registry, metricsListen, config.api.token);
  if (metrics) {
    retention.start();
    log.info({ address: metrics.address }, 'metrics on /metrics');
  }
  const removeSignals = onShutdownSignal(logger, async () => {
    if (!leading) {
      await lease.release(); // a standby just stops waiting
      return;
    }
    // The pipeline first: its last acknowledged batches still get their second delete.
    await daemon.stop(4000);
    await jobs.close();
    await lease.release(); // a standby takes over at once
  });
  try {
    await jobs.start();
    // Several daemons may run for one source: one leads, the others wait here.
    leading = await lease.acquire();
    if (leading) {
      lease.keep((reason) =>
        daemon.fail(new SluiceError('E_LEADERSHIP_LOST', `leadership lost: ${reason}`)),
      );
      await daemon.start();
      await daemon.done;
    }
  } finally {
    removeSignals();
    await metrics?.close();
    await retention.stop();
    await adminServer.close();
    await lease.release();
    await jobs.close();
    await schema.close();
    await closeRedis(redis);
  }
  log.info('sluice stopped');
}
