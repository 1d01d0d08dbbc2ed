import { InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import { SluiceError } from '../errors/index.js';

/** A bad-usage error: exit code 2, message printed as `sluice: E_USAGE: …`. */
export function usageError(message: string, details: Record<string, unknown> = {}): SluiceError {
  return new SluiceError('E_USAGE', message, { details });
}

/** Writes one JSON document and a newline on stdout (machine output). */
export function writeJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Writes lines on stdout. */
export function writeLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
}

/** `--help` text after the options: a heading and one `$ sluice …` line per example. */
export function examples(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;
}

/** Commander parser for a positive integer option (`--sample 1000`). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`"${value}" is not a positive integer.`);
  }
  return n;
}

/**
 * Operator commands log only warnings and errors (as JSON lines on stderr)
 * unless SLUICE_LOG_LEVEL or a more verbose log.level asks for more: their
 * output is the result, not the log.
 */
export function quiet(logger: Logger): Logger {
  if (process.env.SLUICE_LOG_LEVEL === undefined && logger.level === 'info') logger.level = 'warn';
  return logger;
}
