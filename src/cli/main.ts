import { Command, CommanderError } from 'commander';
import { isSluiceError } from '../errors/index.js';
import { registerAudit } from './audit.js';
import { registerCheckSource } from './checkSource.js';
import { registerExplain } from './explain.js';
import { registerPosition } from './position.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

/** Builds the `sluice` program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Binlog-driven cache invalidation for MySQL/MariaDB + Redis')
    .option(
      '-c, --config <file>',
      'configuration file (default: $SLUICE_CONFIG or config/sluice.yaml)',
    )
    .showHelpAfterError()
    .exitOverride();
  registerRun(program);
  registerServe(program);
  registerReplay(program);
  registerPosition(program);
  registerStatus(program);
  registerExplain(program);
  registerAudit(program);
  registerVerify(program);
  registerCheckSource(program);
  return program;
}

/**
 * Runs the CLI; exit codes: 0 success, 1 runtime failure, 2 bad usage or
 * configuration. A command whose result is a failure without being an error
 * (check-source with a failed check, audit finding stale entries) sets
 * `process.exitCode`.
 */
export async function main(argv: readonly string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    const code = Number(process.exitCode ?? 0);
    process.exitCode = undefined;
    return Number.isInteger(code) ? code : 1;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      return 2;
    }
    if (isSluiceError(err)) {
      process.stderr.write(`sluice: ${err.code}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `sluice: E_INTERNAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  }
}
