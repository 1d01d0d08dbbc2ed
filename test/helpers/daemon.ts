import type { Cluster, Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { KeyTemplate } from '../../src/keys/KeyTemplate.js';
import { SchemaLookup } from '../../src/db/schemaLookup.js';
import { Invalidator, type InvalidatorOptions } from '../../src/pipeline/Invalidator.js';
import { randomId, randomServerId, testEnv } from './env.js';
import { testRedis } from './redis.js';

export interface TestDaemon {
  readonly invalidator: Invalidator;
  readonly redis: Redis | Cluster;
  readonly source: string;
  readonly channel: string;
  stop(): Promise<void>;
}

/**
 * An in-process daemon for `rules` (`{ 'db.t': ['key:{id}'] }`), with its own
 * source name (checkpoint key), channel and replica id, starting at the
 * binlog's current end unless `startFrom` says otherwise. `redis` makes its
 * client (default: the test Redis; e.g. a Cluster client), closed on stop().
 */
export async function startDaemon(
  rules: Record<string, string[]>,
  overrides: {
    startFrom?: string;
    source?: Partial<InvalidatorOptions['source']>;
    invalidation?: Partial<InvalidatorOptions['invalidation']>;
    secondDelete?: InvalidatorOptions['secondDelete'];
    fence?: InvalidatorOptions['fence'];
    replicaWait?: InvalidatorOptions['replicaWait'];
    primaryPollMs?: InvalidatorOptions['primaryPollMs'];
    redis?: () => Redis | Cluster;
    /** Default: silent (SLUICE_TEST_LOG sets a level). */
    logger?: Logger;
    /** false: return once started, without waiting for the stream (a start that must fail). */
    awaitStreaming?: boolean;
  } = {},
): Promise<TestDaemon> {
  const redis = overrides.redis?.() ?? testRedis();
  const name = `test-${randomId()}`;
  const channel = `sluice:test:${name}`;
  const schema = new SchemaLookup(testEnv.sourceUrl);
  const invalidator = new Invalidator({
    source: {
      name,
      url: testEnv.sourceUrl,
      serverId: randomServerId(),
      startFrom: overrides.startFrom ?? 'end',
      onPositionLost: 'fail',
      onSchemaMismatch: 'fail',
      heartbeatMs: 1000,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      ...overrides.source,
    },
    invalidation: {
      channel,
      batchMaxKeys: 500,
      batchMaxDelayMs: 2,
      maxInFlightKeys: 100_000,
      heartbeatMs: 1000,
      ...overrides.invalidation,
    },
    rules: Object.entries(rules).map(([table, keys]) => ({
      table,
      keys: keys.map((k, i) => KeyTemplate.parse(k, `rules.${table}.keys[${i}]`)),
    })),
    redis,
    logger: overrides.logger ?? pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' }),
    columns: schema.columns,
    ...(overrides.secondDelete === undefined ? {} : { secondDelete: overrides.secondDelete }),
    ...(overrides.fence === undefined ? {} : { fence: overrides.fence }),
    ...(overrides.replicaWait === undefined ? {} : { replicaWait: overrides.replicaWait }),
    ...(overrides.primaryPollMs === undefined ? {} : { primaryPollMs: overrides.primaryPollMs }),
  });
  await invalidator.start();
  // Streaming has begun once the source reports the server accepted the start point.
  const deadline = Date.now() + 10_000;
  while (overrides.awaitStreaming !== false && !invalidator.stats.connected) {
    if (Date.now() > deadline) throw new Error('daemon did not connect within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    invalidator,
    redis,
    source: name,
    channel,
    stop: async () => {
      await invalidator.stop();
      await schema.close();
      redis.disconnect();
    },
  };
}

/** Whether `invalidator` is still running: its `done` has not settled (it neither stopped nor failed). */
export async function stillRunning(invalidator: Invalidator): Promise<boolean> {
  let settled = false;
  void invalidator.done.then(
    () => (settled = true),
    () => (settled = true),
  );
  await Promise.resolve();
  return !settled;
}
