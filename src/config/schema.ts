import { distance } from 'fastest-levenshtein';
import { z } from 'zod';
import type { PoolConfig } from '../db/createPool.js';
import { isSluiceError, SluiceError } from '../errors/index.js';
import { KeyTemplate } from '../keys/KeyTemplate.js';
import type { MappingRule } from '../pipeline/mapping/KeyMapper.js';
import { parseGtidSet, parsePosition } from '../pipeline/position.js';
import type { BinlogPosition } from '../pipeline/position.js';
import { isRedisSocketUrl, parseRedisSocketUrl } from '../infra/redisSocket.js';
import { splitSourceHosts } from '../infra/sourceHosts.js';
import { configError, formatPath } from './issues.js';
import type { ConfigIssue } from './issues.js';
import { redactUrl } from './redact.js';

// ---------------------------------------------------------------- field types

const DIGITS_RE = /^\s*-?\d+\s*$/;

/**
 * An integer in [min, max]. A decimal string is accepted too, so a number can
 * come from `${VAR}` interpolation (which always yields text).
 */
function int(min: number, max: number) {
  return z.preprocess(
    (v) => (typeof v === 'string' && DIGITS_RE.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
}

/** A number in (0, 1]; a decimal string is accepted for the same reason as in int(). */
function fraction() {
  return z.preprocess(
    (v) => (typeof v === 'string' && /^\s*\d*\.?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().gt(0).max(1),
  );
}

/** A boolean; `"true"`/`"false"` are accepted for the same reason as in int(). */
function bool() {
  return z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
}

/** A URL with one of `protocols` (e.g. `mysql:`) and a host; errors print it redacted. */
function url(protocols: readonly string[], expected = protocols.map((p) => `${p}//`).join(' or ')) {
  return z.string().superRefine((text, ctx) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(text);
    } catch {
      // reported below; the TypeError is not kept: it carries the raw input
    }
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${redactUrl(text)}" is not a valid URL` });
    } else if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: `"${redactUrl(text)}" must be a ${expected} URL` });
    } else if (parsed.hostname === '') {
      ctx.addIssue({ code: 'custom', message: `"${redactUrl(text)}" has no host` });
    }
  });
}

/**
 * `redis.url`: `redis://` or `rediss://` with a host, or a co-located
 * server's Unix socket (`unix:///run/redis/redis.sock?db=N`, see
 * infra/redisSocket.ts).
 */
function redisUrl() {
  const tcp = url(['redis:', 'rediss:'], 'redis://, rediss:// or unix://');
  return z.string().superRefine((text, ctx) => {
    if (!isRedisSocketUrl(text)) {
      const checked = tcp.safeParse(text);
      for (const issue of checked.error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', message: issue.message });
      }
      return;
    }
    const socket = parseRedisSocketUrl(text);
    if ('error' in socket)
      ctx.addIssue({ code: 'custom', message: `"${redactUrl(text)}" ${socket.error}` });
  });
}

/**
 * `source.url`: one MySQL URL, or several `host:port` pairs between the user
 * info and the path (`mysql://u:p@db1:3306,db2:3306/app`, see
 * splitSourceHosts); each host is checked as a URL of its own.
 */
function sourceUrl() {
  const one = url(['mysql:', 'mariadb:']);
  return z.string().superRefine((text, ctx) => {
    let hosts: string[];
    try {
      hosts = splitSourceHosts(text);
    } catch (err) {
      if (!isSluiceError(err)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return;
    }
    for (const host of hosts) {
      const parsed = one.safeParse(host);
      for (const issue of parsed.error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', message: issue.message });
      }
    }
  });
}

/** The path of a URL (`/0`), or '' when it does not parse (reported by url()). */
function urlPath(text: string): string {
  try {
    return new URL(text).pathname;
  } catch {
    return '';
  }
}

const TABLE_RE = /^[^\s.`]+\.[^\s.`]+$/;
const tableName = z.string().regex(TABLE_RE, 'must name a table as "db.table"');

const COLUMN_RE = /^[A-Za-z0-9_$]+$/;
const columnName = z.string().regex(COLUMN_RE, 'must be a column name (A-Z a-z 0-9 _ $)');

const RESOURCE_RE = /^[a-z][a-z0-9_-]*$/;
const resourceName = z
  .string()
  .regex(RESOURCE_RE, 'resource names start with a-z, then a-z 0-9 _ -');

/** Where the binlog source starts when it has no usable checkpoint, parsed. */
export type StartFrom =
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'end' }
  | { readonly kind: 'position'; readonly position: BinlogPosition }
  | { readonly kind: 'gtid'; readonly gtid: string };

/**
 * Parses `source.startFrom`: `checkpoint`, `end`, `FILE:POS` or `gtid:SET`.
 * Throws E_POSITION_INVALID naming `field`.
 */
export function parseStartFrom(text: string, field = 'source.startFrom'): StartFrom {
  if (text === 'checkpoint' || text === 'end') return { kind: text };
  if (text.startsWith('gtid:')) {
    const gtid = parseGtidSet(text.slice('gtid:'.length), field);
    if (gtid === '') {
      throw new SluiceError('E_POSITION_INVALID', `${field}: "${text}" has an empty GTID set`, {
        details: { field, value: text },
      });
    }
    return { kind: 'gtid', gtid };
  }
  if (!text.includes(':')) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${field}: "${text}" is not checkpoint, end, FILE:POS or gtid:SET`,
      { details: { field, value: text } },
    );
  }
  return { kind: 'position', position: parsePosition(text, field) };
}

const startFrom = z.string().superRefine((text, ctx) => {
  try {
    parseStartFrom(text, 'startFrom');
  } catch (err) {
    if (!isSluiceError(err)) throw err;
    ctx.addIssue({ code: 'custom', message: withoutField(err.message, 'startFrom') });
  }
});

const LISTEN_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Splits `api.listen` (`127.0.0.1:8080`, `[::1]:8080`); null when malformed. */
export function parseListen(text: string): { host: string; port: number } | null {
  const m = LISTEN_RE.exec(text);
  if (!m?.[1] || !m[2]) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

const listen = z
  .string()
  .refine((text) => parseListen(text) !== null, 'must be HOST:PORT, e.g. 127.0.0.1:8080');

// ---------------------------------------------------------------- sections

const sourceSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -')
    .default('main'),
  url: sourceUrl(),
  serverId: int(1, 4_294_967_295).default(4101),
  startFrom: startFrom.default('checkpoint'),
  onPositionLost: z.enum(['fail', 'flush']).default('fail'),
  onSchemaMismatch: z.enum(['fail', 'flush']).default('fail'),
  /** Another server answers where the checkpoint's came from and no GTID leads to it there. */
  onSourceChanged: z.enum(['fail', 'flush']).default('fail'),
  /** Binlog heartbeat period; three silent periods count as a stall. */
  heartbeatMs: int(100, 60_000).default(1000),
  /** High availability: leader lease lifetime (a standby takes over within it). */
  leaderLeaseMs: int(500, 600_000).default(5000),
  reconnect: z
    .strictObject({
      initialDelayMs: int(1, 3_600_000).default(500),
      maxDelayMs: int(1, 3_600_000).default(30_000),
    })
    .superRefine((r, ctx) => {
      if (r.maxDelayMs < r.initialDelayMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxDelayMs'],
          message: `must be >= initialDelayMs (${r.initialDelayMs})`,
        });
      }
    })
    .prefault({}),
});

const databaseSchema = z.strictObject({
  /** Default: source.url (filled after parsing). */
  url: url(['mysql:', 'mariadb:']).optional(),
  pool: z
    .strictObject({
      connectionLimit: int(1, 10_000).default(100),
      maxIdle: int(0, 10_000).default(20),
      idleTimeoutMs: int(0, 86_400_000).default(60_000),
      enableKeepAlive: bool().default(true),
      slowQueryMs: int(0, 3_600_000).default(100),
    })
    .superRefine((p, ctx) => {
      if (p.maxIdle > p.connectionLimit) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxIdle'],
          message: `must be <= connectionLimit (${p.connectionLimit})`,
        });
      }
    })
    .prefault({}),
});

/** db/ spells the pool's shape out (it sits below config/): this stops compiling when the two drift. */
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const POOL_SHAPE_MATCHES: SameShape<z.infer<typeof databaseSchema>['pool'], PoolConfig> =
  true;

const hostPort = z
  .string()
  .refine((text) => parseListen(text) !== null, 'must be HOST:PORT, e.g. 10.0.0.5:6379');

/** Fields that only mean something with `redis.sentinels` (with `redis.url`, the URL carries them). */
const SENTINEL_ONLY = [
  'name',
  'username',
  'password',
  'db',
  'sentinelUsername',
  'sentinelPassword',
] as const;

const redisSchema = z
  .strictObject({
    /** Required unless `sentinels` name the servers. */
    url: redisUrl().optional(),
    /** Redis Cluster: `url` (and `nodes`) are seed nodes; the client discovers the rest. */
    cluster: bool().default(false),
    /** More cluster seed nodes (HOST:PORT), tried when `url`'s node is down. */
    nodes: z.array(hostPort).default([]),
    /** Redis Sentinel (HOST:PORT each): they name the primary of `name`; no `url` then. */
    sentinels: z.array(hostPort).default([]),
    /** The Sentinel master group name. */
    name: z.string().min(1).optional(),
    /** Credentials and database of the servers the Sentinels name. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    db: int(0, 1_000_000).optional(),
    /** TLS to the servers the Sentinels name (with `url`: `rediss://`). */
    tls: bool().default(false),
    /** Credentials and TLS of the Sentinels themselves. */
    sentinelUsername: z.string().min(1).optional(),
    sentinelPassword: z.string().min(1).optional(),
    sentinelTls: bool().default(false),
    /** >0: a round counts as acknowledged only once this many replicas have it (WAIT). */
    waitReplicas: int(0, 100).default(0),
    /** The WAIT timeout; fewer replicas by then: the round is retried. */
    waitTimeoutMs: int(1, 60_000).default(1000),
  })
  .superRefine((r, ctx) => {
    const sentinel = r.sentinels.length > 0;
    if (!r.cluster && r.nodes.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'needs redis.cluster: true' });
    }
    if (r.url === undefined && !sentinel) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'required (or redis.sentinels and redis.name)',
      });
    }
    if (sentinel) {
      if (r.url !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message:
            'not with redis.sentinels: the Sentinels name the primary (redis.username, redis.password, redis.db, redis.tls)',
        });
      }
      if (r.name === undefined) {
        ctx.addIssue({ code: 'custom', path: ['name'], message: 'required with redis.sentinels' });
      }
      if (r.cluster) {
        ctx.addIssue({
          code: 'custom',
          path: ['cluster'],
          message: 'a Redis Cluster has no Sentinels: use redis.sentinels or redis.cluster',
        });
      }
    } else {
      for (const field of SENTINEL_ONLY) {
        if (r[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'needs redis.sentinels (with redis.url, put it in the URL)',
          });
        }
      }
      for (const field of ['tls', 'sentinelTls'] as const) {
        if (r[field]) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'needs redis.sentinels (with redis.url, use rediss://)',
          });
        }
      }
    }
    if (r.cluster && r.url !== undefined && isRedisSocketUrl(r.url)) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message:
          'a Redis Cluster is reached over TCP: a redis:// or rediss:// seed node, not a socket',
      });
    } else if (r.cluster && r.url !== undefined && !/^\/?0?$/.test(urlPath(r.url))) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'a Redis Cluster has only database 0: drop the /N from the URL',
      });
    }
  });

const invalidationSchema = z
  .strictObject({
    channel: z.string().min(1).default('sluice:invalidate'),
    /** >0: a durable delayed second delete after this many ms. */
    secondDeleteMs: int(0, 86_400_000).default(0),
    batchMaxKeys: int(1, 100_000).default(500),
    batchMaxDelayMs: int(0, 1000).default(2),
    /** Above this many unacknowledged keys the binlog is paused. */
    maxInFlightKeys: int(1, 100_000_000).default(100_000),
    heartbeatMs: int(100, 60_000).default(1000),
  })
  .superRefine((inv, ctx) => {
    if (inv.maxInFlightKeys < inv.batchMaxKeys) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxInFlightKeys'],
        message: `must be >= batchMaxKeys (${inv.batchMaxKeys})`,
      });
    }
  });

const ruleSchema = z.strictObject({
  table: tableName,
  // Template syntax is checked after zod, with the field path (see semanticIssues).
  keys: z.array(z.string()).min(1),
});

const resourceSchema = z.strictObject({
  table: tableName,
  key: z.string(),
  list: z
    .strictObject({
      by: columnName,
      cursor: columnName,
      key: z.string(),
    })
    .optional(),
});

const apiSchema = z.strictObject({
  listen: listen.default('127.0.0.1:8080'),
  /** Bearer token for the admin routes. */
  token: z.string().min(1).optional(),
  resources: z.record(resourceName, resourceSchema).default({}),
  /** Read your own writes: how long a fenced read waits for the daemon's watermark before reading the database. */
  fenceWaitMs: int(0, 60_000).default(1000),
});

const metricsSchema = z.strictObject({
  /** `sluice run` serves GET /metrics and /healthz here (off when unset). */
  listen: listen.optional(),
});

const verifySchema = z.strictObject({
  /** `sluice verify` serves GET /metrics and /healthz here. */
  listen: listen.default('127.0.0.1:9466'),
  /** Share of invalidated API resource keys that are checked. */
  sampleRate: fraction().default(0.01),
  /** Each sample is checked this long after its invalidation, once per window. */
  windowsMs: z.array(int(100, 3_600_000)).min(1).max(10).default([1000, 10_000, 60_000]),
  /** Checks waiting for their window at most; further samples are dropped (and counted). */
  maxPending: int(1, 10_000_000).default(100_000),
  /** The nines gauge covers the checks of this long. */
  horizonMs: int(1000, 86_400_000).default(600_000),
  /** A mismatch waits this long for the daemon's checkpoint to pass it, else stays unconfirmed. */
  confirmTimeoutMs: int(100, 600_000).default(30_000),
});

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

/** The configuration file's schema. Parsing fills every default. */
export const configSchema = z
  .strictObject({
    source: sourceSchema,
    database: databaseSchema.prefault({}),
    redis: redisSchema,
    invalidation: invalidationSchema.prefault({}),
    rules: z.array(ruleSchema).min(1),
    api: apiSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    verify: verifySchema.prefault({}),
    log: logSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.database.url === undefined && hostCount(c.source.url) > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['database', 'url'],
        message:
          'required when source.url names several hosts: the cache reads through one address (a proxy, a DNS name or the primary)',
      });
    }
    // A WAIT holds the daemon's connection, which also renews the leader lease.
    const most = Math.floor(c.source.leaderLeaseMs / 2);
    if (c.redis.waitReplicas > 0 && c.redis.waitTimeoutMs > most) {
      ctx.addIssue({
        code: 'custom',
        path: ['redis', 'waitTimeoutMs'],
        message: `must be <= source.leaderLeaseMs / 2 (${most}): a WAIT delays the lease renewals on its connection`,
      });
    }
  })
  .transform((c) => ({ ...c, database: { ...c.database, url: c.database.url ?? c.source.url } }));

function hostCount(url: string): number {
  try {
    return splitSourceHosts(url).length;
  } catch {
    return 1; // reported on source.url
  }
}

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The loaded configuration: normalised (defaults filled) and deeply frozen. */
export type SluiceConfig = DeepReadonly<z.output<typeof configSchema>>;
/** What the YAML file may contain. */
export type SluiceConfigInput = z.input<typeof configSchema>;
export type SourceConfig = SluiceConfig['source'];
export type DatabaseConfig = SluiceConfig['database'];
export type RedisConfig = SluiceConfig['redis'];
export type InvalidationConfig = SluiceConfig['invalidation'];
export type RuleConfig = SluiceConfig['rules'][number];
export type ApiConfig = SluiceConfig['api'];
export type ApiResourceConfig = ApiConfig['resources'][string];
export type LogConfig = SluiceConfig['log'];
export type MetricsConfig = SluiceConfig['metrics'];
export type VerifyConfig = SluiceConfig['verify'];

// ---------------------------------------------------------------- validation

export type ConfigCheck =
  | { readonly ok: true; readonly config: SluiceConfig }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/**
 * Validates a parsed (and env-interpolated) document without throwing: zod
 * issues first, then the cross-field checks, all with field paths.
 */
export function checkConfig(input: unknown): ConfigCheck {
  const parsed = configSchema.safeParse(input, {
    error: (iss) =>
      iss.code === 'invalid_type' && iss.input === undefined ? 'required' : undefined,
  });
  const issues = parsed.success ? [] : parsed.error.issues.flatMap(fromZod);
  issues.push(...semanticIssues(input));
  if (!parsed.success || issues.length > 0) return { ok: false, issues };
  return { ok: true, config: deepFreeze(parsed.data) };
}

/** checkConfig, throwing one E_CONFIG_INVALID that lists every issue. */
export function validateConfig(input: unknown, file?: string): SluiceConfig {
  const result = checkConfig(input);
  if (!result.ok) throw configError('E_CONFIG_INVALID', result.issues, file);
  return result.config;
}

/** The rules with their templates parsed, for KeyMapper. */
export function buildMappingRules(config: SluiceConfig): MappingRule[] {
  return config.rules.map((rule, i) =>
    Object.freeze({
      table: rule.table,
      keys: Object.freeze(rule.keys.map((k, j) => KeyTemplate.parse(k, `rules[${i}].keys[${j}]`))),
    }),
  );
}

function fromZod(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(configSchema, issue.path);
    return issue.keys.map((key) => {
      const near = closest(key, known);
      return {
        path: formatPath([...issue.path, key]),
        message: `unknown field${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
      };
    });
  }
  if (issue.code === 'invalid_key') {
    return [{ path: formatPath(issue.path), message: issue.issues[0]?.message ?? issue.message }];
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

/**
 * The checks zod cannot express field by field. They read the raw document
 * defensively (skipping what zod already reports as mistyped), so a template
 * error is reported together with, say, a bad log level.
 */
function semanticIssues(input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const rules = asArray(asRecord(input)?.['rules']) ?? [];
  const keysByTable = new Map<string, Set<string>>();
  const firstRule = new Map<string, number>();

  rules.forEach((raw, i) => {
    const rule = asRecord(raw);
    const table = rule?.['table'];
    const keys = asArray(rule?.['keys']) ?? [];
    keys.forEach((key, j) => {
      if (typeof key !== 'string') return;
      const path = `rules[${i}].keys[${j}]`;
      const error = templateError(key, path);
      if (error !== undefined) issues.push({ path, message: error });
    });
    if (typeof table !== 'string') return;
    const first = firstRule.get(table);
    if (first !== undefined) {
      issues.push({
        path: `rules[${i}].table`,
        message: `duplicate rule for ${table} (also rules[${first}])`,
      });
    } else {
      firstRule.set(table, i);
    }
    const set = keysByTable.get(table) ?? new Set<string>();
    for (const key of keys) if (typeof key === 'string') set.add(key);
    keysByTable.set(table, set);
  });

  const resources = asRecord(asRecord(asRecord(input)?.['api'])?.['resources']) ?? {};
  for (const [name, raw] of Object.entries(resources)) {
    const resource = asRecord(raw);
    const table = resource?.['table'];
    if (resource === undefined || typeof table !== 'string') continue;
    const at = formatPath(['api', 'resources', name]);
    const invalidated = keysByTable.get(table);
    if (invalidated === undefined) {
      issues.push({
        path: `${at}.table`,
        message: `no rule invalidates ${table}: every key an API resource caches must be invalidated by its table's rule`,
      });
      continue;
    }
    const notInvalidated = (key: string): string =>
      `"${key}" is not invalidated by any rule for ${table}`;

    const key = resource['key'];
    if (typeof key === 'string') {
      if (!invalidated.has(key)) {
        issues.push({ path: `${at}.key`, message: notInvalidated(key) });
      } else {
        const columns = distinctColumns(key);
        if (columns !== undefined && columns.length !== 1) {
          issues.push({
            path: `${at}.key`,
            message: `"${key}" must have exactly one placeholder column: the id the route looks up`,
          });
        }
      }
    }

    const list = asRecord(resource['list']);
    const listKey = list?.['key'];
    const by = list?.['by'];
    if (typeof listKey !== 'string') continue;
    if (!invalidated.has(listKey)) {
      issues.push({ path: `${at}.list.key`, message: notInvalidated(listKey) });
      continue;
    }
    const columns = distinctColumns(listKey);
    if (columns === undefined || typeof by !== 'string') continue;
    if (!columns.includes(by)) {
      issues.push({
        path: `${at}.list.by`,
        message: `column "${by}" is not a placeholder of list.key "${listKey}"`,
      });
    } else if (columns.length > 1) {
      issues.push({
        path: `${at}.list.key`,
        message: `"${listKey}" may only use the {${by}} placeholder (list.by): the API renders it from the ${by} query parameter`,
      });
    }
  }
  return issues;
}

/** The syntax error of a template without its `path: ` prefix, or undefined. */
function templateError(text: string, path: string): string | undefined {
  try {
    KeyTemplate.parse(text, path);
    return undefined;
  } catch (err) {
    if (!isSluiceError(err)) throw err;
    return withoutField(err.message, path);
  }
}

function distinctColumns(text: string): string[] | undefined {
  try {
    return [...new Set(KeyTemplate.parse(text).columns)];
  } catch {
    return undefined; // reported where the rule's key is checked
  }
}

function withoutField(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

function asRecord(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function asArray(value: unknown): readonly unknown[] | undefined {
  return Array.isArray(value) ? (value as unknown[]) : undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---------------------------------------------------------------- typo hints

/** The field names the schema allows at `path` (for "did you mean"). */
function knownKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  let node = schema;
  let i = 0;
  for (;;) {
    const def = asRecord(asRecord(node)?.['def']);
    switch (def?.['type']) {
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'readonly':
        node = def['innerType'];
        break;
      case 'pipe': {
        // preprocess: transform → schema; .transform(): schema → transform
        const inner = asRecord(asRecord(def['in'])?.['def']);
        node = inner?.['type'] === 'transform' ? def['out'] : def['in'];
        break;
      }
      case 'object': {
        const shape = asRecord(def['shape']) ?? {};
        if (i === path.length) return Object.keys(shape);
        node = shape[String(path[i++])];
        break;
      }
      case 'array':
        if (i++ === path.length) return [];
        node = def['element'];
        break;
      case 'record':
        if (i++ === path.length) return [];
        node = def['valueType'];
        break;
      default:
        return [];
    }
  }
}

/** The candidate nearest to `word` (case-insensitive edit distance), if near enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
