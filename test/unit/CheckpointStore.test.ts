import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { CheckpointStore } from '../../src/pipeline/checkpoint/CheckpointStore.js';
import { position } from '../../src/pipeline/position.js';

/** GET and SET on a map, every SET recorded. */
function mapRedis() {
  const data = new Map<string, string>();
  const sets: Array<[string, string]> = [];
  const redis = {
    get: (key: string) => Promise.resolve(data.get(key) ?? null),
    set(key: string, value: string): Promise<'OK'> {
      sets.push([key, value]);
      data.set(key, value);
      return Promise.resolve('OK');
    },
  };
  return { redis: redis as unknown as Redis, sets };
}

describe('CheckpointStore', () => {
  it('write stores the encoded record under the source checkpoint key, and read returns it', async () => {
    const { redis, sets } = mapRedis();
    const store = new CheckpointStore(redis, 'main');
    await store.write({
      position: position('mysql-bin.000004', 1234),
      gtid: '0-1-77',
      server: { kind: 'mariadb', serverId: 1, domainId: 0 },
      at: '2024-05-01T10:00:00.000Z',
    });
    expect(sets).toEqual([
      [
        RedisKeys.checkpoint('main'),
        '{"file":"mysql-bin.000004","pos":1234,"gtid":"0-1-77",' +
          '"server":{"kind":"mariadb","serverId":1,"domainId":0},"at":"2024-05-01T10:00:00.000Z"}',
      ],
    ]);
    await expect(store.read()).resolves.toStrictEqual({
      position: position('mysql-bin.000004', 1234),
      gtid: '0-1-77',
      at: '2024-05-01T10:00:00.000Z',
      server: { kind: 'mariadb', serverId: 1, domainId: 0 },
    });
  });
});
