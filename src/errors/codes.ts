/**
 * The catalog of stable error codes. Every SluiceError carries one of these;
 * the README's error table is checked against this object by a unit test.
 * A code never changes meaning once released.
 */
export const ERROR_CODES = {
  E_CONFIG_INVALID: 'The configuration file failed validation; the message names the field path.',
  E_CONFIG_NOT_FOUND: 'The configuration file does not exist or cannot be read.',
  E_CONFIG_PARSE: 'The configuration file is not valid YAML.',
  E_CONFIG_ENV:
    'A ${VAR} reference in the configuration is malformed, or names an unset variable and has no default.',
  E_TEMPLATE_SYNTAX:
    'A key template has unbalanced braces, an empty placeholder or an invalid column name.',
  E_TEMPLATE_COLUMN:
    "An API resource's key or list names a column its table does not have when the read API builds its routes (the start-up check reports it as E_CONFIG_INVALID first).",
  E_TABLE_NOT_FOUND:
    "A table a command reads does not exist after start-up (the start-up check reports a rule's missing table as E_CONFIG_INVALID).",
  E_USAGE: 'Bad command-line usage (unknown option, malformed argument).',
  E_POSITION_INVALID: 'A binlog position or GTID set could not be parsed.',
  E_METRICS_REGISTERED:
    "A SluiceCache was given a Prometheus registry that already holds another cache's sluice_cache_* metrics.",
  E_FENCE_TOKEN_INVALID:
    'A read-your-writes fence token (X-Sluice-After, `after`) is not a MariaDB GTID, a MySQL GTID set or FILE:POS.',
  E_POSITION_LOST:
    'The stored checkpoint is no longer on the server (binlog purged); see source.onPositionLost.',
  E_SOURCE_CONNECT:
    'The binlog connection to MySQL/MariaDB failed; the daemon retries with backoff.',
  E_SOURCE_DECODE:
    'A binlog event could not be decoded three times at the same position (e.g. schema drift without FULL row metadata).',
  E_SOURCE_STALLED:
    'No binlog event or heartbeat arrived for three heartbeat periods; reconnecting.',
  E_SOURCE_SETTINGS:
    'The server binlog settings are unusable (binlog off, not ROW, not FULL row image or metadata).',
  E_SOURCE_CHANGED:
    'Another server answers than the one the checkpoint belongs to, and no GTID leads to it there (none stored, or the new server lacks transactions the checkpoint covers); see source.onSourceChanged.',
  E_SOURCE_BUSY:
    'A daemon is running for the source (fresh status record); stop it or pass --force.',
  E_SCHEMA_MISMATCH:
    'A mapped table lost a column that a key template needs; see source.onSchemaMismatch.',
  E_FENCED:
    'The checkpoint write was refused: another instance took the leader lease (this one stops).',
  E_LEADERSHIP_LOST:
    'Another instance took the leader lease (it expired while this one was paused or cut off); this one stops.',
  E_REDIS:
    'A Redis command failed; the sink retries with backoff without advancing the checkpoint.',
  E_REDIS_REPLICAS:
    'Fewer replicas than redis.waitReplicas acknowledged a round within redis.waitTimeoutMs; the round is retried and the checkpoint does not pass it.',
  E_REDIS_PRIMARY_CHANGED:
    'Redis answers from another primary or dataset than before (failover, restart): the daemon re-reads the checkpoint stored there, re-streams the binlog from it and announces an L1 reset.',
  E_WRITE_BEHIND_FAILED:
    'A write-behind database write failed for good (attempts exhausted or a permanent SQL error): its key was invalidated and the job kept in the failed set.',
  E_BAD_REQUEST:
    'The read API refused a request: a malformed id, list, cursor or limit, or an unknown query parameter (HTTP 400).',
  E_NOT_FOUND: 'The read API has no such row, resource or route (HTTP 404).',
  E_UNAUTHORIZED:
    'A read API admin route (/metrics) was called without the api.token bearer token (HTTP 401).',
  E_SHUTDOWN_TIMEOUT: 'Graceful shutdown did not finish in time; the process exited anyway.',
  E_INTERNAL: 'An unexpected internal error (a bug): please report it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
