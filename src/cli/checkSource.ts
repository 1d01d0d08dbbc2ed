import type { Command } from 'commander';
import { redactUrl } from '../config/redact.js';
import { checkSource, type SourceCheck } from '../source-admin/sourceChecks.js';
import { commandContext, type GlobalOptions } from './context.js';
import { examples, quiet, writeJson, writeLines } from './output.js';

interface CheckSourceOptions extends GlobalOptions {
  readonly json?: boolean;
}

export function registerCheckSource(program: Command): void {
  program
    .command('check-source')
    .description('check the binlog settings, replica id, grants and retention the daemon needs')
    .option('--json', 'print {"ok","server","checks":[{"id","status","message","fix"}]}')
    .addHelpText(
      'after',
      examples('sluice check-source', 'sluice check-source --json --config /etc/sluice.yaml') +
        '\n\nExit code 1 when any check fails (warnings and skipped checks do not fail).',
    )
    .action(async (_opts: object, cmd: Command) => {
      await runCheckSource(cmd.optsWithGlobals<CheckSourceOptions>());
    });
}

async function runCheckSource(opts: CheckSourceOptions): Promise<void> {
  const { config, logger } = commandContext(opts, 'stderr');
  quiet(logger);
  const checks = await checkSource(config.source.url, config);
  const ok = checks.every((c) => c.status !== 'fail');
  if (opts.json === true) {
    writeJson({ ok, server: redactUrl(config.source.url), checks });
  } else {
    writeLines([`source ${redactUrl(config.source.url)}`, ...formatChecks(checks)]);
  }
  if (!ok) process.exitCode = 1;
}

/** `PASS  id  message` lines, with `fix:` under failures and warnings, and a verdict. */
export function formatChecks(checks: readonly SourceCheck[]): string[] {
  const width = Math.max(...checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.status.toUpperCase().padEnd(4)}  ${c.id.padEnd(width)}  ${c.message}`);
    if (c.fix !== undefined && c.status !== 'pass')
      lines.push(`${' '.repeat(width + 8)}fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push(
    failed === 0
      ? `ok: ${checks.length} checks, ${warned} warning${warned === 1 ? '' : 's'}`
      : `${failed} check${failed === 1 ? '' : 's'} failed`,
  );
  return lines;
}
