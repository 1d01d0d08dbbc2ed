import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, resolveConfigPath } from '../../src/config/loader.js';
import type { Env } from '../../src/config/loader.js';
import { SluiceError } from '../../src/errors/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fixtures = 0;
/** Writes `text` to a fresh file in the temp dir and returns its path. */
function fixture(text: string): string {
  const file = join(dir, `config-${++fixtures}.yaml`);
  writeFileSync(file, text);
  return file;
}

function loadError(path: string, env: Env = {}): SluiceError {
  try {
    loadConfig({ path, env });
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('loadConfig succeeded');
}

const MINIMAL = `
source:
  url: mysql://sluice:sluice-secret@127.0.0.1:3307/app
redis:
  url: redis://127.0.0.1:6380/0
rules:
  - table: app.users
    keys: ["user:{id}", "user:email:{email}"]
`;

/** A valid configuration with every section; cases below break one thing each. */
const FULL = `
source:
  name: main
  url: mysql://sluice:sluice-secret@127.0.0.1:3307/app
  serverId: 4101
  startFrom: checkpoint
redis:
  url: redis://127.0.0.1:6380/0
rules:
  - table: app.users
    keys: ["user:{id}", "user:email:{email}"]
  - table: app.messages
    keys: ["message:{id}", "chat:{chat_id}:messages"]
api:
  resources:
    users: { table: app.users, key: "user:{id}" }
    messages:
      table: app.messages
      key: "message:{id}"
      list: { by: chat_id, cursor: id, key: "chat:{chat_id}:messages" }
`;

describe('loadConfig: broken configurations', () => {
  it.each<{ name: string; yaml: string; env?: Env; code: string; line: string }>([
    {
      name: 'missing source.url',
      yaml: FULL.replace('  url: mysql://sluice:sluice-secret@127.0.0.1:3307/app\n', ''),
      code: 'E_CONFIG_INVALID',
      line: 'source.url: required',
    },
    {
      name: 'serverId of the wrong type',
      yaml: FULL.replace('serverId: 4101', 'serverId: abc'),
      code: 'E_CONFIG_INVALID',
      line: 'source.serverId: Invalid input: expected number, received string',
    },
    {
      name: 'serverId out of range',
      yaml: FULL.replace('serverId: 4101', 'serverId: 0'),
      code: 'E_CONFIG_INVALID',
      line: 'source.serverId: Too small: expected number to be >=1',
    },
    {
      name: 'unknown top-level field (typo)',
      yaml: FULL.replace('rules:', 'rulez:'),
      code: 'E_CONFIG_INVALID',
      line: 'rulez: unknown field (did you mean "rules"?)',
    },
    {
      name: 'unknown nested field (typo)',
      yaml: FULL.replace('serverId: 4101', 'serverID: 4101'),
      code: 'E_CONFIG_INVALID',
      line: 'source.serverID: unknown field (did you mean "serverId"?)',
    },
    {
      name: 'invalid source URL (password redacted)',
      yaml: FULL.replace('sluice-secret@127.0.0.1:3307', 'hunter2@127.0.0.1:notaport'),
      code: 'E_CONFIG_INVALID',
      line: 'source.url: "mysql://sluice:***@127.0.0.1:notaport/app" is not a valid URL',
    },
    {
      name: 'source URL with a mistyped scheme (password redacted)',
      yaml: FULL.replace('mysql://sluice:sluice-secret@', 'mysql//sluice:hunter2@'),
      code: 'E_CONFIG_INVALID',
      line: 'source.url: "mysql//sluice:***@127.0.0.1:3307/app" is not a valid URL',
    },
    {
      name: 'source URL with the wrong scheme (password redacted)',
      yaml: FULL.replace('mysql://sluice:sluice-secret@', 'postgres://sluice:hunter2@'),
      code: 'E_CONFIG_INVALID',
      line: 'source.url: "postgres://sluice:***@127.0.0.1:3307/app" must be a mysql:// or mariadb:// URL',
    },
    {
      name: 'redis URL with the wrong scheme',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'http://:hunter2@127.0.0.1:6380'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "http://:***@127.0.0.1:6380" must be a redis://, rediss:// or unix:// URL',
    },
    {
      name: 'redis socket URL naming another host (password redacted)',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'unix://u:hunter2@cache1/run/redis.sock'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "unix://u:***@cache1/run/redis.sock" names host "cache1": a Unix socket is on this machine (localhost)',
    },
    {
      name: 'redis socket URL without a socket file',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'unix:///run/redis/'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "unix:///run/redis/" names no socket file (unix:///path/to/redis.sock)',
    },
    {
      name: 'redis socket URL with a parameter other than db',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'unix:///run/redis.sock?password=hunter2'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "unix:///run/redis.sock?password=***" has parameter "password": only db is understood',
    },
    {
      name: 'redis socket URL with a db that is no number',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'unix:///run/redis.sock?db=two'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "unix:///run/redis.sock?db=two" has db that is not a number 0 to 1000000',
    },
    {
      name: 'redis socket URL with credentials but no host (password redacted)',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'unix://u:hunter2@/run/redis.sock'),
      code: 'E_CONFIG_INVALID',
      line: 'redis.url: "unix://u:***@/run/redis.sock" is not a valid URL (unix:///path/to/redis.sock, credentials as unix://user:password@localhost/path)',
    },
    {
      name: 'startFrom that is no position',
      yaml: FULL.replace('startFrom: checkpoint', 'startFrom: binlog.000003'),
      code: 'E_CONFIG_INVALID',
      line: 'source.startFrom: "binlog.000003" is not checkpoint, end, FILE:POS or gtid:SET',
    },
    {
      name: 'startFrom before the first event',
      yaml: FULL.replace('startFrom: checkpoint', 'startFrom: "binlog.000003:2"'),
      code: 'E_CONFIG_INVALID',
      line: 'source.startFrom: offset 2 is before the first event (4)',
    },
    {
      name: 'empty rules',
      yaml: MINIMAL.replace(/rules:[\s\S]*$/, 'rules: []\n'),
      code: 'E_CONFIG_INVALID',
      line: 'rules: Too small: expected array to have >=1 items',
    },
    {
      name: 'duplicate rule',
      yaml: FULL.replace('- table: app.messages', '- table: app.users'),
      code: 'E_CONFIG_INVALID',
      line: 'rules[1].table: duplicate rule for app.users (also rules[0])',
    },
    {
      name: 'template with unbalanced braces',
      yaml: FULL.replace('"user:email:{email}"', '"user:email:{email"'),
      code: 'E_CONFIG_INVALID',
      line: 'rules[0].keys[1]: unclosed "{" at offset 11 in "user:email:{email"',
    },
    {
      name: 'table not in db.table form',
      yaml: FULL.replace('- table: app.users', '- table: users'),
      code: 'E_CONFIG_INVALID',
      line: 'rules[0].table: must name a table as "db.table"',
    },
    {
      name: 'API key not invalidated by any rule',
      yaml: FULL.replace(
        'users: { table: app.users, key: "user:{id}" }',
        'users: { table: app.users, key: "user:{uid}" }',
      ),
      code: 'E_CONFIG_INVALID',
      line: 'api.resources.users.key: "user:{uid}" is not invalidated by any rule for app.users',
    },
    {
      name: 'API list key not invalidated by any rule',
      yaml: FULL.replace('key: "chat:{chat_id}:messages" }', 'key: "chat:{chat_id}" }'),
      code: 'E_CONFIG_INVALID',
      line: 'api.resources.messages.list.key: "chat:{chat_id}" is not invalidated by any rule for app.messages',
    },
    {
      name: 'API list.by not a placeholder of list.key',
      yaml: FULL.replace('by: chat_id', 'by: user_id'),
      code: 'E_CONFIG_INVALID',
      line: 'api.resources.messages.list.by: column "user_id" is not a placeholder of list.key "chat:{chat_id}:messages"',
    },
    {
      name: 'API resource for a table without a rule',
      yaml: FULL.replace('users: { table: app.users,', 'users: { table: app.people,'),
      code: 'E_CONFIG_INVALID',
      line: "api.resources.users.table: no rule invalidates app.people: every key an API resource caches must be invalidated by its table's rule",
    },
    {
      name: 'bad resource name',
      yaml: FULL.replace('    users: {', '    Users: {'),
      code: 'E_CONFIG_INVALID',
      line: 'api.resources.Users: resource names start with a-z, then a-z 0-9 _ -',
    },
    {
      name: 'bad log level',
      yaml: `${FULL}log: { level: verbose }\n`,
      code: 'E_CONFIG_INVALID',
      line: 'log.level: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"',
    },
    {
      name: 'unset environment variable without default',
      yaml: FULL.replace('redis://127.0.0.1:6380/0', 'redis://${REDIS_HOST}:6380/0'),
      code: 'E_CONFIG_ENV',
      line: 'redis.url: environment variable REDIS_HOST is not set and ${REDIS_HOST} has no default',
    },
    {
      name: 'malformed environment reference',
      yaml: FULL.replace('name: main', 'name: ${1BAD}'),
      code: 'E_CONFIG_ENV',
      line: 'source.name: malformed reference "${1BAD}": expected ${VAR} or ${VAR:-default}',
    },
    {
      name: 'SLUICE_SOURCE_URL override that is no URL',
      yaml: FULL,
      env: { SLUICE_SOURCE_URL: 'mysql://root:hunter2@db:port/app' },
      code: 'E_CONFIG_INVALID',
      line: 'source.url: "mysql://root:***@db:port/app" is not a valid URL (set by SLUICE_SOURCE_URL)',
    },
    {
      name: 'empty file',
      yaml: '# nothing here\n',
      code: 'E_CONFIG_INVALID',
      line: '(root): the file is empty',
    },
  ])('$name', ({ yaml, env, code, line }) => {
    const file = fixture(yaml);
    const err = loadError(file, env);
    expect(err.code).toBe(code);
    expect(err.exitCode).toBe(2);
    const lines = err.message.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^configuration ${file} `));
    expect(lines.slice(1)).toContain(line);
    const [path, ...rest] = line.split(': ');
    expect(err.details['issues']).toContainEqual({ path, message: rest.join(': ') });
    expect(err.details['file']).toBe(file);
    expect(err.message).not.toContain('hunter2');
    expect(JSON.stringify(err.details)).not.toContain('hunter2');
  });

  it('reports every problem at once, one per line', () => {
    const file = fixture(
      FULL.replace('serverId: 4101', 'serverId: -1')
        .replace('rules:', 'rulez: 1\nrules:')
        .replace('"user:email:{email}"', '"user:email:{}"'),
    );
    const err = loadError(file);
    expect(err.code).toBe('E_CONFIG_INVALID');
    expect(err.message).toBe(
      [
        `configuration ${file} is invalid (3 problems):`,
        'source.serverId: Too small: expected number to be >=1',
        'rulez: unknown field (did you mean "rules"?)',
        'rules[0].keys[1]: empty placeholder "{}" at offset 11 in "user:email:{}"',
      ].join('\n'),
    );
    expect(err.details['issues']).toEqual([
      { path: 'source.serverId', message: 'Too small: expected number to be >=1' },
      { path: 'rulez', message: 'unknown field (did you mean "rules"?)' },
      {
        path: 'rules[0].keys[1]',
        message: 'empty placeholder "{}" at offset 11 in "user:email:{}"',
      },
    ]);
  });

  it('E_CONFIG_PARSE names the line and column, without quoting the source line', () => {
    const file = fixture('source:\n  url: mysql://u:hunter2@h/app\n  name: [main\nredis: {}\n');
    const err = loadError(file);
    expect(err.code).toBe('E_CONFIG_PARSE');
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      new RegExp(`^${file}:\\d+:\\d+: YAML syntax error at line \\d+, column \\d+: `),
    );
    expect(err.details['line']).toBeTypeOf('number');
    expect(err.details['column']).toBeTypeOf('number');
    expect(err.message).not.toContain('hunter2');
  });

  it('E_CONFIG_PARSE for duplicate keys', () => {
    const err = loadError(fixture(`${MINIMAL}redis:\n  url: redis://other\n`));
    expect(err.code).toBe('E_CONFIG_PARSE');
    expect(err.message).toContain('Map keys must be unique');
  });

  it('E_CONFIG_NOT_FOUND names the missing path', () => {
    const missing = join(dir, 'nope.yaml');
    const err = loadError(missing);
    expect(err.code).toBe('E_CONFIG_NOT_FOUND');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      `config file ${missing} not found (choose one with --config FILE or SLUICE_CONFIG)`,
    );
  });

  it('E_CONFIG_NOT_FOUND for a directory', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    const err = loadError(sub);
    expect(err.code).toBe('E_CONFIG_NOT_FOUND');
    expect(err.message).toBe(`cannot read config file ${sub} (EISDIR)`);
  });
});

describe('loadConfig: valid configurations', () => {
  it('fills every default', () => {
    const config = loadConfig({ path: fixture(MINIMAL), env: {} });
    expect(config).toEqual({
      source: {
        name: 'main',
        url: 'mysql://sluice:sluice-secret@127.0.0.1:3307/app',
        serverId: 4101,
        startFrom: 'checkpoint',
        onPositionLost: 'fail',
        onSchemaMismatch: 'fail',
        onSourceChanged: 'fail',
        heartbeatMs: 1000,
        leaderLeaseMs: 5000,
        reconnect: { initialDelayMs: 500, maxDelayMs: 30000 },
      },
      database: {
        url: 'mysql://sluice:sluice-secret@127.0.0.1:3307/app',
        pool: {
          connectionLimit: 100,
          maxIdle: 20,
          idleTimeoutMs: 60000,
          enableKeepAlive: true,
          slowQueryMs: 100,
        },
      },
      redis: {
        url: 'redis://127.0.0.1:6380/0',
        cluster: false,
        nodes: [],
        sentinels: [],
        tls: false,
        sentinelTls: false,
        waitReplicas: 0,
        waitTimeoutMs: 1000,
      },
      invalidation: {
        channel: 'sluice:invalidate',
        secondDeleteMs: 0,
        batchMaxKeys: 500,
        batchMaxDelayMs: 2,
        maxInFlightKeys: 100000,
        heartbeatMs: 1000,
      },
      rules: [{ table: 'app.users', keys: ['user:{id}', 'user:email:{email}'] }],
      api: { listen: '127.0.0.1:8080', resources: {}, fenceWaitMs: 1000 },
      metrics: {},
      verify: {
        listen: '127.0.0.1:9466',
        sampleRate: 0.01,
        windowsMs: [1000, 10000, 60000],
        maxPending: 100000,
        horizonMs: 600000,
        confirmTimeoutMs: 30000,
      },
      log: { level: 'info' },
    });
  });

  it('is deeply frozen', () => {
    const config = loadConfig({ path: fixture(FULL), env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.source.reconnect)).toBe(true);
    expect(Object.isFrozen(config.rules)).toBe(true);
    expect(Object.isFrozen(config.rules[0]?.keys)).toBe(true);
    expect(Object.isFrozen(config.api.resources['messages']?.list)).toBe(true);
    expect(() => {
      (config.source as { name: string }).name = 'other';
    }).toThrow(TypeError);
    expect(config.source.name).toBe('main');
  });

  it('interpolates ${VAR} and ${VAR:-default} in string values', () => {
    const file = fixture(
      MINIMAL.replace('sluice-secret', '${DB_PASS}')
        .replace('127.0.0.1:6380/0', '${REDIS_HOST:-localhost}:${REDIS_PORT:-6380}/0')
        .replace(
          'source:',
          'source:\n  name: ${SOURCE_NAME:-primary}\n  serverId: ${SERVER_ID:-4102}',
        ),
    );
    const config = loadConfig({
      path: file,
      env: { DB_PASS: 'pa$$word', REDIS_PORT: '7000', SOURCE_NAME: '' },
    });
    expect(config.source.url).toBe('mysql://sluice:pa$$word@127.0.0.1:3307/app');
    expect(config.redis.url).toBe('redis://localhost:7000/0');
    expect(config.source.name).toBe('primary'); // set but empty: the default applies, as in sh
    expect(config.source.serverId).toBe(4102); // a number, though interpolated as text
  });

  it('$${ is a literal ${ and a lone $ stays', () => {
    const file = fixture(`${MINIMAL}invalidation:\n  channel: "cache:$\${raw}:$x"\n`);
    expect(loadConfig({ path: file, env: {} }).invalidation.channel).toBe('cache:${raw}:$x');
  });

  it('does not interpolate mapping keys or the YAML text itself', () => {
    const file = fixture(`${MINIMAL}invalidation:\n  channel: "\${CHANNEL}"\n`);
    const config = loadConfig({ path: file, env: { CHANNEL: 'a"\n  batchMaxKeys: 1' } });
    expect(config.invalidation.channel).toBe('a"\n  batchMaxKeys: 1');
    expect(config.invalidation.batchMaxKeys).toBe(500);
  });

  it('SLUICE_SOURCE_URL and SLUICE_REDIS_URL override the file, verbatim', () => {
    const config = loadConfig({
      path: fixture(MINIMAL),
      env: {
        SLUICE_SOURCE_URL: 'mariadb://repl:p$${x}@db.internal:3306/app',
        SLUICE_REDIS_URL: 'rediss://cache.internal:6379/1',
      },
    });
    expect(config.source.url).toBe('mariadb://repl:p$${x}@db.internal:3306/app');
    expect(config.database.url).toBe('mariadb://repl:p$${x}@db.internal:3306/app');
    expect(config.redis.url).toBe('rediss://cache.internal:6379/1');
  });

  it('takes a co-located Redis by its Unix socket, with a database and ACL credentials', () => {
    for (const url of [
      'unix:///run/redis/redis.sock',
      'unix:///run/redis/redis.sock?db=2',
      'unix://sluice:secret@localhost/run/redis/redis.sock?db=0',
    ]) {
      const config = loadConfig({ path: fixture(MINIMAL), env: { SLUICE_REDIS_URL: url } });
      expect(config.redis.url).toBe(url);
    }
  });

  it('an override replaces a field whose ${VAR} is unset', () => {
    const file = fixture(
      MINIMAL.replace('mysql://sluice:sluice-secret@127.0.0.1:3307/app', '${DB_URL}'),
    );
    const config = loadConfig({ path: file, env: { SLUICE_SOURCE_URL: 'mysql://h/app' } });
    expect(config.source.url).toBe('mysql://h/app');
  });

  it('keeps an explicit database.url', () => {
    const file = fixture(`${MINIMAL}database:\n  url: mysql://app:app-secret@127.0.0.1:3307/app\n`);
    const config = loadConfig({ path: file, env: { SLUICE_SOURCE_URL: 'mysql://h/app' } });
    expect(config.database.url).toBe('mysql://app:app-secret@127.0.0.1:3307/app');
  });

  it('reads SLUICE_CONFIG when no path is given; an explicit path wins', () => {
    const fromEnv = fixture(MINIMAL.replace('source:', 'source:\n  name: from-env'));
    const explicit = fixture(MINIMAL.replace('source:', 'source:\n  name: explicit'));
    expect(loadConfig({ env: { SLUICE_CONFIG: fromEnv } }).source.name).toBe('from-env');
    expect(loadConfig({ path: explicit, env: { SLUICE_CONFIG: fromEnv } }).source.name).toBe(
      'explicit',
    );
    expect(resolveConfigPath({ env: {} })).toBe('config/sluice.yaml');
    expect(resolveConfigPath({ env: { SLUICE_CONFIG: fromEnv } })).toBe(fromEnv);
  });

  it('loads the demo config/sluice.yaml', () => {
    const config = loadConfig({ path: 'config/sluice.yaml', env: {} });
    expect(config.source.name).toBe('main');
    expect(config.source.url).toBe('mysql://sluice:sluice-secret@127.0.0.1:3307/app');
    expect(config.source.serverId).toBe(4101);
    expect(config.database.url).toBe('mysql://app:app-secret@127.0.0.1:3307/app');
    expect(config.redis.url).toBe('redis://127.0.0.1:6380/0');
    expect(config.rules).toEqual([
      { table: 'app.users', keys: ['user:{id}', 'user:email:{email}'] },
      { table: 'app.messages', keys: ['message:{id}', 'chat:{chat_id}:messages'] },
    ]);
    expect(config.api.resources).toEqual({
      users: { table: 'app.users', key: 'user:{id}' },
      messages: {
        table: 'app.messages',
        key: 'message:{id}',
        list: { by: 'chat_id', cursor: 'id', key: 'chat:{chat_id}:messages' },
      },
    });
    const overridden = loadConfig({
      path: 'config/sluice.yaml',
      env: { SLUICE_SOURCE_URL: 'mysql://sluice:x@10.0.0.1:3306/app' },
    });
    expect(overridden.source.url).toBe('mysql://sluice:x@10.0.0.1:3306/app');
  });
});
