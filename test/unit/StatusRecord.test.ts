import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import {
  newInstanceId,
  readStatus,
  type DaemonStatus,
} from '../../src/pipeline/checkpoint/StatusRecord.js';

/** A Redis whose GET answers `raw` and records the keys asked for. */
function redisAnswering(raw: string | null) {
  const gets: string[] = [];
  const redis = {
    get(key: string): Promise<string | null> {
      gets.push(key);
      return Promise.resolve(raw);
    },
  };
  return { redis: redis as unknown as Redis, gets };
}

const status: DaemonStatus = {
  instance: 'host-a:41:abc123',
  pid: 41,
  host: 'host-a',
  startedAt: '2024-05-01T10:00:00.000Z',
  updatedAt: '2024-05-01T10:00:05.000Z',
  lastEventAt: 1714557605000,
  readPosition: 'mysql-bin.000003:1200',
  checkpoint: 'mysql-bin.000003:1100',
  server: null,
  connected: true,
  paused: false,
  seq: 17,
  lastError: null,
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('newInstanceId', () => {
  it('is host:pid: and six base-36 characters of a random number', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.123456789); // base 36: 0.4fzzzxjylrx
    expect(newInstanceId()).toBe(`${hostname()}:${process.pid}:4fzzzx`);
  });
});

describe('readStatus', () => {
  it('returns the record a daemon published under its source', async () => {
    const { redis, gets } = redisAnswering(JSON.stringify(status));
    await expect(readStatus(redis, 'main')).resolves.toStrictEqual(status);
    expect(gets).toEqual([RedisKeys.status('main')]);
  });

  it('is null when no daemon published one', async () => {
    const { redis } = redisAnswering(null);
    await expect(readStatus(redis, 'main')).resolves.toBeNull();
  });

  it('is null (not an error) when the stored value is not JSON', async () => {
    const { redis } = redisAnswering('{"instance": "host-a:41');
    await expect(readStatus(redis, 'main')).resolves.toBeNull();
  });
});
