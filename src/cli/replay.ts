import type { Command } from 'commander';
import { buildMappingRules } from '../config/schema.js';
import { SluiceError } from '../errors/index.js';
import { onShutdownSignal } from '../infra/signals.js';
import { comparePositions, formatPosition, parsePosition } from '../pipeline/position.js';
import { Replayer, type ReplayerOptions, type ReplayStats } from '../pipeline/replay/Replayer.js';
import { withRedis, withServer } from './clients.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, positiveInt, quiet, usageError } from './output.js';
import { showReplayProgress } from './replayProgress.js';

interface ReplayOptions extends GlobalOptions {
  readonly from: string;
  readonly to?: string;
  readonly dryRun?: boolean;
  readonly maxKeysPerSec?: number;
  readonly force?: boolean;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description("re-invalidate the keys of a binlog range (never moves the daemon's checkpoint)")
    .requiredOption('--from <FILE:POS>', 'start of the range, e.g. binlog.000003:4')
    .option('--to <FILE:POS>', "end of the range (default: the server's binlog head at start)")
    .option('--dry-run', 'print each key once per line on stdout instead of deleting')
    .option('--max-keys-per-sec <n>', 'rate-limit deletes', positiveInt)
    .option(
      '--force',
      'replay across schema changes of mapped tables even without FULL row metadata',
    )
    .addHelpText(
      'after',
      examples(
        'sluice replay --from binlog.000003:4 --to binlog.000003:91234 --dry-run > keys.txt',
        'sluice replay --from binlog.000003:4 --max-keys-per-sec 20000',
      ) +
        '\n\nKeys are deleted from Redis (with their leases) and published on the invalidation\n' +
        'channel so in-process caches drop them too. TRUNCATE/DROP of a mapped table flushes\n' +
        'its key space, as the daemon does. Progress goes to stderr (a bar on a terminal, JSON\n' +
        'lines otherwise), then a summary.',
    )
    .action(async (_opts: object, cmd: Command) => {
      await replay(cmd.optsWithGlobals<ReplayOptions>());
    });
}

async function replay(opts: ReplayOptions): Promise<void> {
  const from = parsePosition(opts.from, '--from');
  const toArg = opts.to === undefined ? undefined : parsePosition(opts.to, '--to');
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const dryRun = opts.dryRun === true;

  // Validate the range against the server before reading a single event.
  const plan = await withServer(config.source.url, async (server) => {
    const logs = await server.binaryLogs();
    const head = await server.head();
    if (head === null)
      throw new SluiceError('E_SOURCE_SETTINGS', `binary logging is off on ${server.where}`);
    const to = toArg ?? head;
    await server.requireOnServer(from, logs);
    await server.requireOnServer(to, logs);
    if (comparePositions(from, to) > 0) {
      throw usageError(`--from ${formatPosition(from)} is after --to ${formatPosition(to)}`);
    }
    await server.eventAt(from); // E_POSITION_INVALID unless an event starts there
    const vars = await server.variables(['binlog_row_metadata', 'server_id']);
    return {
      logs,
      head,
      to,
      metadata: vars.get('binlog_row_metadata') ?? 'unsupported',
      serverOwnId: Number(vars.get('server_id')),
    };
  });
  const { to, logs } = plan;

  const base: Omit<ReplayerOptions, 'invalidate'> = {
    url: config.source.url,
    serverId: replicaId([config.source.serverId, plan.serverOwnId]),
    heartbeatMs: config.source.heartbeatMs,
    reconnect: config.source.reconnect,
    rules: buildMappingRules(config),
    from,
    to,
    logger,
  };

  // Without FULL row metadata, rows are decoded with today's columns: a
  // schema change of a mapped table after `from` means mislabelled rows.
  if (plan.metadata.toUpperCase() !== 'FULL' && opts.force !== true) {
    const first = await new Replayer({ ...base, invalidate: null }).firstSchemaChange(plan.head);
    if (first !== null) {
      throw new SluiceError(
        'E_SCHEMA_MISMATCH',
        `${first.tables.join(', ')} changed at ${formatPosition(first.position)} (${first.query.slice(0, 120)}) ` +
          `and the server has binlog_row_metadata=${plan.metadata}: rows before that point would be decoded with ` +
          `the current columns and mislabelled. Replay from after the change, set binlog_row_metadata=FULL, or pass --force`,
        { details: { tables: first.tables, at: formatPosition(first.position) } },
      );
    }
  }

  const out = new LineWriter();
  const started = Date.now();
  const run = async (replayer: Replayer): Promise<{ stats: ReplayStats; interrupted: boolean }> => {
    let interrupted = false;
    const removeSignals = onShutdownSignal(logger, async () => {
      interrupted = true;
      await replayer.stop();
    });
    const stopProgress = showReplayProgress(() => replayer.stats, { logs, from, to }, started);
    let finished = false;
    try {
      const stats = await replayer.run();
      finished = !interrupted;
      return { stats, interrupted };
    } finally {
      stopProgress(finished);
      removeSignals();
      out.flush();
    }
  };

  const result = dryRun
    ? await run(
        new Replayer({
          ...base,
          invalidate: null,
          onKey: (key) => out.write(key),
          onFlush: (patterns, ddl) =>
            process.stderr.write(
              `${ddl.kind.toUpperCase()} of ${ddl.tables.join(', ')} at ${formatPosition(ddl.position)}: would flush ${patterns.join(' ')}\n`,
            ),
        }),
      )
    : await withRedis(config.redis, (redis) =>
        run(
          new Replayer({
            ...base,
            invalidate: {
              redis,
              channel: config.invalidation.channel,
              // Its own bus identity: subscribers never mix its seq with the daemon's.
              src: `${config.source.name}:replay:${Math.random().toString(36).slice(2, 8)}`,
              batchMaxKeys: config.invalidation.batchMaxKeys,
              batchMaxDelayMs: config.invalidation.batchMaxDelayMs,
              maxInFlightKeys: config.invalidation.maxInFlightKeys,
              ...(opts.maxKeysPerSec === undefined ? {} : { maxKeysPerSec: opts.maxKeysPerSec }),
            },
          }),
        ),
      );

  const { stats, interrupted } = result;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(
    `replay ${formatPosition(from)} → ${formatPosition(to)}${dryRun ? ' (dry run)' : ''}: ` +
      `${stats.events} events, ${stats.rows} rows, ${stats.keys} keys${dryRun ? '' : ' deleted'}` +
      `${stats.flushes > 0 ? `, ${stats.flushes} key-space flush${stats.flushes === 1 ? '' : 'es'}` : ''} in ${seconds} s` +
      `${interrupted ? ` (interrupted at ${stats.position ? formatPosition(stats.position) : formatPosition(from)})` : ''}\n`,
  );
  if (interrupted) process.exitCode = 1;
}

/** A replica id for the replay's own binlog connection: random, never one in use by us or the server. */
function replicaId(avoid: readonly number[]): number {
  for (;;) {
    const id = 1_000_000_000 + Math.floor(Math.random() * 3_000_000_000);
    if (!avoid.includes(id)) return id;
  }
}

/** Buffers stdout lines into large writes (a dry run may print millions of keys). */
class LineWriter {
  private buffer: string[] = [];
  private size = 0;

  write(line: string): void {
    this.buffer.push(line);
    this.size += line.length + 1;
    if (this.size >= 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    process.stdout.write(this.buffer.join('\n') + '\n');
    this.buffer = [];
    this.size = 0;
  }
}
