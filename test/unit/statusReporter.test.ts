import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { StatusReporter, type StatusSnapshot } from '../../src/pipeline/policies/statusReporter.js';
import { position } from '../../src/pipeline/position.js';

/** The commands the reporter sends, on a stand-in for the Redis client. */
function fakeRedis(fail = false) {
  const sent: unknown[][] = [];
  const answer = (): Promise<string> =>
    fail ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve('OK');
  const redis = {
    set: (...args: unknown[]) => (sent.push(['set', ...args]), answer()),
    del: (...args: unknown[]) => (sent.push(['del', ...args]), answer()),
  };
  return { redis: redis as unknown as Redis, sent };
}

const snapshot: StatusSnapshot = {
  lastEventAt: 1700000000000,
  readPosition: position('binlog.000002', 900),
  checkpoint: { position: position('binlog.000002', 800), gtid: '0-1-9' },
  server: 'mariadb server_id 1 (domain 0) at db:3306',
  connected: true,
  paused: false,
  seq: 42,
};

describe('StatusReporter', () => {
  it('writes the status record with its fields in order, and the last error', async () => {
    const { redis, sent } = fakeRedis();
    const reporter = new StatusReporter({
      redis,
      source: 'app',
      instance: 'h:1:x',
      snapshot: () => snapshot,
    });
    reporter.recordError('E_FENCED', 'another instance leads');
    await reporter.publish();
    expect(sent[0]?.slice(0, 2)).toEqual(['set', 'sluice:error:app']);
    expect(JSON.parse(sent[0]?.[2] as string)).toMatchObject({
      code: 'E_FENCED',
      message: 'another instance leads',
    });
    const [op, key, json, px, ttl] = sent[1] ?? [];
    expect([op, key, px, ttl]).toEqual(['set', 'sluice:status:app', 'PX', 5000]);
    const status = JSON.parse(json as string) as Record<string, unknown>;
    expect(Object.keys(status)).toEqual([
      'instance',
      'pid',
      'host',
      'startedAt',
      'updatedAt',
      'lastEventAt',
      'readPosition',
      'checkpoint',
      'server',
      'connected',
      'paused',
      'seq',
      'lastError',
    ]);
    expect(status).toMatchObject({
      instance: 'h:1:x',
      pid: process.pid,
      readPosition: 'binlog.000002:900',
      checkpoint: 'binlog.000002:800',
      seq: 42,
      lastError: { code: 'E_FENCED', message: 'another instance leads' },
    });
    await reporter.remove();
    expect(sent[2]).toEqual(['del', 'sluice:status:app']);
  });

  it('is best effort: Redis down rejects nothing', async () => {
    const { redis } = fakeRedis(true);
    const reporter = new StatusReporter({
      redis,
      source: 'app',
      instance: 'h:1:x',
      snapshot: () => ({ ...snapshot, readPosition: null, checkpoint: null }),
    });
    reporter.recordError('E_REDIS', 'down');
    await expect(reporter.publish()).resolves.toBeUndefined();
    await expect(reporter.remove()).resolves.toBeUndefined();
  });
});
