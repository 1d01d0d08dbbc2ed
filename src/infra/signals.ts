import type { Logger } from 'pino';

/**
 * Graceful shutdown on SIGINT/SIGTERM: the first signal runs `stop` (bounded
 * by `hardTimeoutMs`, then exit 1), a second signal exits at once.
 * Returns a function that removes the handlers.
 */
export function onShutdownSignal(
  logger: Logger,
  stop: (signal: NodeJS.Signals) => Promise<void>,
  hardTimeoutMs = 5000,
): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ code: 'E_SHUTDOWN_TIMEOUT', timeoutMs: hardTimeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, hardTimeoutMs);
    timer.unref();
    stop(signal).then(
      () => {
        clearTimeout(timer);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
