import { pino, type Logger } from 'pino';

/** A pino logger whose lines (parsed) land in `lines`, for tests that assert what operators read. */
export function capturedLogger(level: pino.Level = 'debug'): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}
