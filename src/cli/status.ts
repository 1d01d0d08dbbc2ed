import type { Command } from 'commander';
import { formatReport, readStored, reportFor, type StatusReads } from './statusReport.js';
import { withRedis, withServer } from './clients.js';
import { commandContext, type GlobalOptions } from './context.js';
import { onShutdownSignal } from '../infra/signals.js';
import { examples, quiet, usageError, writeJson, writeLines } from './output.js';
import { renderLine, renderScreen, StatusWatcher, viewOf, type WatchFrame } from './statusWatch.js';

interface StatusOptions extends GlobalOptions {
  readonly json?: boolean;
  readonly watch?: boolean;
  readonly daemonMetrics?: string;
  readonly verifyMetrics?: string;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('checkpoint, server binlog head, lag, running daemon and its last error')
    .option('--json', 'print one JSON object')
    .option(
      '--watch',
      'a live view refreshed every second (one logfmt line per refresh when not a terminal)',
    )
    .option(
      '--daemon-metrics <url>',
      "the daemon's /metrics for rows/s, keys/s and in-flight keys (default: from metrics.listen)",
    )
    .option(
      '--verify-metrics <url>',
      "sluice verify's /metrics for the consistency (default: from verify.listen)",
    )
    .addHelpText(
      'after',
      examples('sluice status', 'sluice status --json | jq .lag.bytes', 'sluice status --watch'),
    )
    .action(async (_opts: object, cmd: Command) => {
      const opts = cmd.optsWithGlobals<StatusOptions>();
      if (opts.watch === true) {
        if (opts.json === true) throw usageError('--watch and --json: choose one');
        await watchStatus(opts);
      } else {
        await status(opts);
      }
    });
}

/**
 * `sluice status --watch`: redraws the screen every second on a terminal,
 * else prints one logfmt line per second; stops on SIGINT/SIGTERM (exit 0).
 */
async function watchStatus(opts: StatusOptions): Promise<void> {
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const watcher = new StatusWatcher(config, {
    ...(opts.daemonMetrics === undefined ? {} : { daemon: opts.daemonMetrics }),
    ...(opts.verifyMetrics === undefined ? {} : { verify: opts.verifyMetrics }),
  });
  const tty = process.stdout.isTTY === true;
  let stopped = false;
  let readerGone = false;
  let wake: () => void = () => undefined;
  const removeSignals = onShutdownSignal(logger, () => {
    stopped = true;
    wake();
    return Promise.resolve();
  });
  // `sluice status --watch | head -3`: the reader left, stop quietly.
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err;
    readerGone = true;
    stopped = true;
    wake();
  };
  process.stdout.on('error', onStdoutError);
  if (tty) process.stdout.write(HIDE_CURSOR);
  let prev: WatchFrame | null = null;
  try {
    while (!stopped) {
      const started = Date.now();
      const frame = await watcher.frame();
      const view = viewOf(frame, prev);
      prev = frame;
      if (stopped) break;
      if (tty) process.stdout.write(CLEAR + renderScreen(frame, view).join('\n') + '\n');
      else process.stdout.write(renderLine(frame, view) + '\n');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, started + 1000 - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    if (tty && !readerGone) process.stdout.write(SHOW_CURSOR);
    process.stdout.off('error', onStdoutError);
    removeSignals();
    await watcher.close();
  }
}

/** Cursor home + clear screen; hide/show the cursor while the view is live. */
const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * `sluice status`: exit 0 whether or not a daemon runs; a source or Redis
 * that cannot be reached is reported (in `problems`) and exits 1.
 */
async function status(opts: StatusOptions): Promise<void> {
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const problems: string[] = [];

  let server: StatusReads['server'] = null;
  try {
    server = await withServer(config.source.url, async (s) => ({
      head: await s.head(),
      logs: await s.binaryLogs(),
    }));
  } catch (err) {
    problems.push(`source: ${(err as Error).message}`);
  }

  let stored: StatusReads['stored'] = null;
  try {
    stored = await withRedis(config.redis, (redis) => readStored(redis, config.source.name));
  } catch (err) {
    problems.push(`redis: ${(err as Error).message}`);
  }

  const report = reportFor(config, { server, stored, problems, now: Date.now() });
  if (opts.json === true) writeJson(report);
  else writeLines(formatReport(report));
  if (problems.length > 0) process.exitCode = 1;
}
