import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line (URLs are redacted before logging, too). */
const REDACT = [
  'password',
  '*.password',
  'url',
  '*.url',
  '*.*.url',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
];

/**
 * The process logger: JSON lines on stdout (stderr for CLI commands whose
 * stdout is data), secrets redacted. Components take `logger.child({ component })`.
 */
export function createLogger(
  options: { level?: string; name?: string; destination?: DestinationStream } = {},
): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info',
    base: { name: options.name ?? 'sluice', pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
