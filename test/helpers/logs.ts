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

/** What operators read in each captured line: pino's time, pid and hostname left out. */
export function logFields(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return lines.map(({ time: _t, pid: _p, hostname: _h, ...rest }) => rest);
}
