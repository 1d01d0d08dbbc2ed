export { loadConfig, resolveConfigPath, interpolateEnv, DEFAULT_CONFIG_PATH } from './loader.js';
export type { Env, LoadConfigOptions } from './loader.js';
export {
  configSchema,
  checkConfig,
  validateConfig,
  buildMappingRules,
  parseStartFrom,
  parseListen,
} from './schema.js';
export type {
  SluiceConfig,
  SluiceConfigInput,
  SourceConfig,
  DatabaseConfig,
  RedisConfig,
  InvalidationConfig,
  RuleConfig,
  ApiConfig,
  ApiResourceConfig,
  LogConfig,
  StartFrom,
  ConfigCheck,
} from './schema.js';
export { checkAgainstSchema, missingColumns } from './liveCheck.js';
export type { ColumnLookup, MissingColumn } from './liveCheck.js';
export { formatPath } from './issues.js';
export type { ConfigIssue } from './issues.js';
export { redactUrl } from './redact.js';
