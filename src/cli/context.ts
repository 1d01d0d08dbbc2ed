import type { Logger } from 'pino';
import { loadConfig } from '../config/loader.js';
import type { SluiceConfig } from '../config/schema.js';
import { createLogger } from '../infra/logger.js';

/** Options every command accepts. */
export interface GlobalOptions {
  readonly config?: string;
}

/**
 * Loads the configuration for a command (`--config`, else SLUICE_CONFIG, else
 * config/sluice.yaml). Errors propagate as SluiceErrors with exit code 2.
 */
export function commandContext(
  opts: GlobalOptions,
  logTo: 'stdout' | 'stderr' = 'stdout',
): { config: SluiceConfig; logger: Logger } {
  const config = loadConfig(opts.config === undefined ? {} : { path: opts.config });
  const logger = createLogger({
    level: process.env.SLUICE_LOG_LEVEL ?? config.log.level,
    ...(logTo === 'stderr' ? { destination: process.stderr } : {}),
  });
  return { config, logger };
}
