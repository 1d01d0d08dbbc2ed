import type { Command } from 'commander';
import { checkAgainstSchema } from '../config/liveCheck.js';
import { redactUrl } from '../config/redact.js';
import { buildMappingRules } from '../config/schema.js';
import { SchemaLookup } from '../db/schemaLookup.js';
import { closeRedis, createRedis } from '../infra/redis.js';
import { onShutdownSignal } from '../infra/signals.js';
import { Invalidator } from '../pipeline/Invalidator.js';
import { commandContext, type GlobalOptions } from './context.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the invalidation daemon: binlog → Redis UNLINK + PUBLISH, checkpointed')
    .addHelpText('after', '\nExample:\n  $ sluice run --config config/sluice.yaml')
    .action(async (_opts: object, cmd: Command) => {
      await runDaemon(cmd.optsWithGlobals<GlobalOptions>());
    });
}

/** `sluice run`: resolves when the daemon stopped cleanly, rejects on a fatal error. */
export async function runDaemon(opts: GlobalOptions): Promise<void> {
  const { config, logger } = commandContext(opts);
  const log = logger.child({ component: 'run' });
  log.info(
    {
      source: config.source.name,
      url: redactUrl(config.source.url),
      redis: redactUrl(config.redis.url),
      tables: config.rules.map((r) => r.table),
    },
    'sluice starting',
  );

  // Templates must match the live tables before a single event is read.
  const schema = new SchemaLookup(config.source.url);
  try {
    await checkAgainstSchema(config, schema.columns);
  } catch (err) {
    await schema.close();
    throw err;
  }

  const redis = createRedis(config.redis.url, 'sink');
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const daemon = new Invalidator({
    source: config.source,
    invalidation: config.invalidation,
    rules: buildMappingRules(config),
    redis,
    logger,
    columns: schema.columns,
  });
  const removeSignals = onShutdownSignal(logger, async () => {
    await daemon.stop(4000);
  });
  try {
    await daemon.start();
    await daemon.done;
  } finally {
    removeSignals();
    await schema.close();
    await closeRedis(redis);
  }
  log.info('sluice stopped');
}
