import { describe, expect, it } from 'vitest';
import {
  buildMappingRules,
  checkConfig,
  parseListen,
  parseStartFrom,
  validateConfig,
} from '../../src/config/schema.js';
import { SluiceError } from '../../src/errors/index.js';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { KeyMapper } from '../../src/pipeline/mapping/KeyMapper.js';

const document = {
  source: { url: 'mysql://sluice:secret@127.0.0.1:3307/app' },
  redis: { url: 'redis://127.0.0.1:6380/0' },
  rules: [
    { table: 'app.users', keys: ['user:{id}', 'user:email:{email}'] },
    { table: 'app.messages', keys: ['message:{id}', 'chat:{chat_id}:messages'] },
  ],
};

function issuesOf(input: unknown): readonly { path: string; message: string }[] {
  const result = checkConfig(input);
  return result.ok ? [] : result.issues;
}

describe('validateConfig', () => {
  it('builds KeyMapper rules from the configured templates', () => {
    const rules = buildMappingRules(validateConfig(document));
    expect(rules.map((r) => r.table)).toEqual(['app.users', 'app.messages']);
    expect(rules[0]?.keys.every((k) => k instanceof KeyTemplate)).toBe(true);
    expect(rules[1]?.keys.map((k) => k.source)).toEqual([
      'message:{id}',
      'chat:{chat_id}:messages',
    ]);
    const mapper = new KeyMapper(rules);
    expect(
      mapper.keysFor({ kind: 'insert', table: 'app.messages', after: { id: 5, chat_id: 2 } }),
    ).toEqual(['message:5', 'chat:2:messages']);
  });

  it('accepts numbers and booleans given as text (from ${VAR})', () => {
    const config = validateConfig({
      ...document,
      source: { ...document.source, serverId: '4200' },
      database: { pool: { enableKeepAlive: 'false', connectionLimit: '8', maxIdle: '8' } },
    });
    expect(config.source.serverId).toBe(4200);
    expect(config.database.pool).toEqual({
      connectionLimit: 8,
      maxIdle: 8,
      idleTimeoutMs: 60000,
      enableKeepAlive: false,
      slowQueryMs: 100,
    });
  });

  it('throws one E_CONFIG_INVALID without a file name', () => {
    let err: unknown;
    try {
      validateConfig({ ...document, log: { level: 'loud' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('E_CONFIG_INVALID');
    expect((err as SluiceError).message).toBe(
      'configuration is invalid (1 problem):\n' +
        'log.level: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"',
    );
  });

  it.each<[string, unknown, { path: string; message: string }]>([
    [
      'the root is not a mapping',
      ['a'],
      { path: '(root)', message: 'Invalid input: expected object, received array' },
    ],
    [
      'reconnect.maxDelayMs below initialDelayMs',
      {
        ...document,
        source: { ...document.source, reconnect: { initialDelayMs: 5000, maxDelayMs: 100 } },
      },
      { path: 'source.reconnect.maxDelayMs', message: 'must be >= initialDelayMs (5000)' },
    ],
    [
      'pool.maxIdle above connectionLimit',
      { ...document, database: { pool: { connectionLimit: 4 } } },
      { path: 'database.pool.maxIdle', message: 'must be <= connectionLimit (4)' },
    ],
    [
      'maxInFlightKeys below batchMaxKeys',
      { ...document, invalidation: { batchMaxKeys: 1000, maxInFlightKeys: 10 } },
      { path: 'invalidation.maxInFlightKeys', message: 'must be >= batchMaxKeys (1000)' },
    ],
    [
      'batchMaxDelayMs out of range',
      { ...document, invalidation: { batchMaxDelayMs: 5000 } },
      { path: 'invalidation.batchMaxDelayMs', message: 'Too big: expected number to be <=1000' },
    ],
    [
      'heartbeatMs below 100',
      { ...document, source: { ...document.source, heartbeatMs: 10 } },
      { path: 'source.heartbeatMs', message: 'Too small: expected number to be >=100' },
    ],
    [
      'bad api.listen',
      { ...document, api: { listen: 'localhost' } },
      { path: 'api.listen', message: 'must be HOST:PORT, e.g. 127.0.0.1:8080' },
    ],
    [
      'empty gtid set',
      { ...document, source: { ...document.source, startFrom: 'gtid:' } },
      { path: 'source.startFrom', message: '"gtid:" has an empty GTID set' },
    ],
    [
      'source name with a space',
      { ...document, source: { ...document.source, name: 'my source' } },
      { path: 'source.name', message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' },
    ],
    [
      'rule without keys',
      { ...document, rules: [{ table: 'app.users', keys: [] }] },
      { path: 'rules[0].keys', message: 'Too small: expected array to have >=1 items' },
    ],
    [
      'API key with two placeholder columns',
      {
        ...document,
        rules: [{ table: 'app.t', keys: ['t:{a}:{b}'] }],
        api: { resources: { t: { table: 'app.t', key: 't:{a}:{b}' } } },
      },
      {
        path: 'api.resources.t.key',
        message: '"t:{a}:{b}" must have exactly one placeholder column: the id the route looks up',
      },
    ],
    [
      'API list key with a placeholder other than list.by',
      {
        ...document,
        api: {
          resources: {
            m: {
              table: 'app.messages',
              key: 'message:{id}',
              list: { by: 'chat_id', cursor: 'id', key: 'message:{id}' },
            },
          },
        },
      },
      {
        path: 'api.resources.m.list.by',
        message: 'column "chat_id" is not a placeholder of list.key "message:{id}"',
      },
    ],
  ])('%s', (_name, input, issue) => {
    expect(issuesOf(input)).toEqual([issue]);
  });

  it('reports template errors together with zod errors', () => {
    expect(
      issuesOf({ ...document, log: { level: 1 }, rules: [{ table: 'app.users', keys: ['u:{'] }] }),
    ).toEqual([
      {
        path: 'log.level',
        message: 'Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"',
      },
      { path: 'rules[0].keys[0]', message: 'unclosed "{" at offset 2 in "u:{"' },
    ]);
  });
});

describe('parseStartFrom', () => {
  it.each([
    ['checkpoint', { kind: 'checkpoint' }],
    ['end', { kind: 'end' }],
    ['binlog.000003:1234', { kind: 'position', position: { file: 'binlog.000003', pos: 1234 } }],
    ['gtid:0-1-42', { kind: 'gtid', gtid: '0-1-42' }],
  ])('%s', (text, expected) => {
    expect(parseStartFrom(text)).toEqual(expected);
  });

  it('throws E_POSITION_INVALID naming the field', () => {
    expect(() => parseStartFrom('latest')).toThrow(
      'source.startFrom: "latest" is not checkpoint, end, FILE:POS or gtid:SET',
    );
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['0.0.0.0:65535', { host: '0.0.0.0', port: 65535 }],
  ])('%s', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(['8080', 'host:', 'host:65536', ':8080', 'a b:1'])('rejects %j', (text) => {
    expect(parseListen(text)).toBeNull();
  });
});

describe('redis.cluster and redis.nodes', () => {
  it('default to a single Redis', () => {
    expect(validateConfig(document).redis).toEqual({
      url: 'redis://127.0.0.1:6380/0',
      cluster: false,
      nodes: [],
      sentinels: [],
      tls: false,
      sentinelTls: false,
      waitReplicas: 0,
      waitTimeoutMs: 1000,
    });
  });

  it('accept a cluster with more seed nodes (cluster as text from ${VAR} too)', () => {
    const config = validateConfig({
      ...document,
      redis: {
        url: 'redis://10.0.0.1:7001',
        cluster: 'true',
        nodes: ['10.0.0.2:7002', '[::1]:7003'],
      },
    });
    expect(config.redis).toMatchObject({
      url: 'redis://10.0.0.1:7001',
      cluster: true,
      nodes: ['10.0.0.2:7002', '[::1]:7003'],
      sentinels: [],
    });
  });

  it('refuse seed nodes without a cluster, a bad node, and a database other than 0', () => {
    expect(issuesOf({ ...document, redis: { url: 'redis://h:6379', nodes: ['h2:6379'] } })).toEqual(
      [{ path: 'redis.nodes', message: 'needs redis.cluster: true' }],
    );
    expect(
      issuesOf({ ...document, redis: { url: 'redis://h:6379', cluster: true, nodes: ['h2'] } }),
    ).toEqual([{ path: 'redis.nodes[0]', message: 'must be HOST:PORT, e.g. 10.0.0.5:6379' }]);
    expect(
      issuesOf({ ...document, redis: { url: 'unix:///run/redis.sock', cluster: true } }),
    ).toEqual([
      {
        path: 'redis.url',
        message:
          'a Redis Cluster is reached over TCP: a redis:// or rediss:// seed node, not a socket',
      },
    ]);
    expect(issuesOf({ ...document, redis: { url: 'redis://h:6379/3', cluster: true } })).toEqual([
      {
        path: 'redis.url',
        message: 'a Redis Cluster has only database 0: drop the /N from the URL',
      },
    ]);
    expect(issuesOf({ ...document, redis: { url: 'redis://h:6379/0', cluster: true } })).toEqual(
      [],
    );
  });
});

describe('redis.sentinels', () => {
  const sentinel = {
    sentinels: ['10.0.0.5:26379', '[::1]:26380'],
    name: 'mymaster',
    password: 'data-secret',
    sentinelPassword: 'sentinel-secret',
    db: '2',
    tls: 'true',
  };

  it('replace redis.url: the group name, credentials, database and TLS are fields', () => {
    const config = validateConfig({ ...document, redis: sentinel });
    expect(config.redis).toEqual({
      cluster: false,
      nodes: [],
      sentinels: ['10.0.0.5:26379', '[::1]:26380'],
      name: 'mymaster',
      password: 'data-secret',
      sentinelPassword: 'sentinel-secret',
      db: 2,
      tls: true,
      sentinelTls: false,
      waitReplicas: 0,
      waitTimeoutMs: 1000,
    });
  });

  it('need a name, exclude a url and a cluster; their fields need them', () => {
    expect(issuesOf({ ...document, redis: { sentinels: ['h:26379'] } })).toEqual([
      { path: 'redis.name', message: 'required with redis.sentinels' },
    ]);
    expect(
      issuesOf({ ...document, redis: { ...sentinel, url: 'redis://h:6379', cluster: true } }),
    ).toEqual([
      {
        path: 'redis.url',
        message:
          'not with redis.sentinels: the Sentinels name the primary (redis.username, redis.password, redis.db, redis.tls)',
      },
      {
        path: 'redis.cluster',
        message: 'a Redis Cluster has no Sentinels: use redis.sentinels or redis.cluster',
      },
    ]);
    expect(
      issuesOf({
        ...document,
        redis: { url: 'redis://h:6379', name: 'm', password: 'p', tls: true },
      }),
    ).toEqual([
      { path: 'redis.name', message: 'needs redis.sentinels (with redis.url, put it in the URL)' },
      {
        path: 'redis.password',
        message: 'needs redis.sentinels (with redis.url, put it in the URL)',
      },
      { path: 'redis.tls', message: 'needs redis.sentinels (with redis.url, use rediss://)' },
    ]);
    expect(issuesOf({ ...document, redis: {} })).toEqual([
      { path: 'redis.url', message: 'required (or redis.sentinels and redis.name)' },
    ]);
    expect(issuesOf({ ...document, redis: { sentinels: ['h'], name: 'm' } })).toEqual([
      { path: 'redis.sentinels[0]', message: 'must be HOST:PORT, e.g. 10.0.0.5:6379' },
    ]);
  });
});

describe('redis.waitReplicas', () => {
  it('bounds the WAIT timeout by half the leader lease (the WAIT holds the renewing connection)', () => {
    const redis = { url: 'redis://h:6379', waitReplicas: 1, waitTimeoutMs: 2600 };
    expect(issuesOf({ ...document, redis })).toEqual([
      {
        path: 'redis.waitTimeoutMs',
        message:
          'must be <= source.leaderLeaseMs / 2 (2500): a WAIT delays the lease renewals on its connection',
      },
    ]);
    expect(issuesOf({ ...document, redis: { ...redis, waitTimeoutMs: 2500 } })).toEqual([]);
    expect(issuesOf({ ...document, redis: { ...redis, waitReplicas: 0 } })).toEqual([]);
  });
});
describe('verify', () => {
  it('takes a sample rate and windows, as text too (from ${VAR})', () => {
    const config = validateConfig({
      ...document,
      verify: { sampleRate: '0.25', windowsMs: ['500', 2000], listen: '0.0.0.0:9466' },
    });
    expect(config.verify).toMatchObject({
      sampleRate: 0.25,
      windowsMs: [500, 2000],
      listen: '0.0.0.0:9466',
    });
  });

  it('refuses a rate outside (0, 1], no window, a window below 100 ms, a bad address', () => {
    expect(issuesOf({ ...document, verify: { sampleRate: 0 } })).toEqual([
      { path: 'verify.sampleRate', message: 'Too small: expected number to be >0' },
    ]);
    expect(issuesOf({ ...document, verify: { sampleRate: 1.5 } })).toEqual([
      { path: 'verify.sampleRate', message: 'Too big: expected number to be <=1' },
    ]);
    expect(issuesOf({ ...document, verify: { windowsMs: [] } })).toEqual([
      { path: 'verify.windowsMs', message: 'Too small: expected array to have >=1 items' },
    ]);
    expect(issuesOf({ ...document, verify: { windowsMs: [50] } })).toEqual([
      { path: 'verify.windowsMs[0]', message: 'Too small: expected number to be >=100' },
    ]);
    expect(issuesOf({ ...document, verify: { listen: 'nowhere' } })).toEqual([
      { path: 'verify.listen', message: 'must be HOST:PORT, e.g. 127.0.0.1:8080' },
    ]);
  });
});

describe('source.url with several hosts', () => {
  const several = 'mysql://sluice:secret@db1:3306,db2:3307/app';

  it('accepts a list of host:port pairs when database.url names the one address readers use', () => {
    const result = checkConfig({
      ...document,
      source: { url: several, onSourceChanged: 'flush' },
      database: { url: 'mysql://app:secret@proxy:3306/app' },
    });
    expect(result.ok && result.config.source).toMatchObject({
      url: several,
      onSourceChanged: 'flush',
    });
  });

  it('requires database.url (the cache reads through one address), and checks every host', () => {
    expect(issuesOf({ ...document, source: { url: several } })).toEqual([
      {
        path: 'database.url',
        message:
          'required when source.url names several hosts: the cache reads through one address (a proxy, a DNS name or the primary)',
      },
    ]);
    expect(
      issuesOf({
        ...document,
        source: { url: 'mysql://sluice:secret@db1:3306,,db2/app' },
        database: { url: 'mysql://a@b/app' },
      }),
    ).toEqual([
      { path: 'source.url', message: 'host 2 of the source URL ("") is not HOST or HOST:PORT' },
    ]);
    expect(
      issuesOf({
        ...document,
        source: { url: 'redis://db1:1,db2:2' },
        database: { url: 'mysql://a@b/app' },
      }),
    ).toEqual([
      { path: 'source.url', message: '"redis://db1:1" must be a mysql:// or mariadb:// URL' },
      { path: 'source.url', message: '"redis://db2:2" must be a mysql:// or mariadb:// URL' },
    ]);
    const policy = issuesOf({
      ...document,
      source: { ...document.source, onSourceChanged: 'follow' },
    });
    expect(policy.map((i) => i.path)).toEqual(['source.onSourceChanged']);
    expect(policy[0]?.message).toContain('"fail"');
  });
});
