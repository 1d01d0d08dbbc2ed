import { Command, CommanderError } from 'commander';
import { isSluiceError } from '../errors/index.js';
import { registerRun } from './run.js';

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
  return program;
}

/** Runs the CLI; exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return 0;
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
