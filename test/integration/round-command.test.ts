// The single-Redis transport against a real Redis: a round trip is one write
// of its UNLINKs and one EVALSHA of the round script (checkpoint, PUBLISHes),
// or for one batch without a checkpoint one plain PUBLISH.
import { Redis } from 'ioredis';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/infra/clock.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import type { CheckpointWrite } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { roundScriptSha } from '../../src/pipeline/transport/RoundCommand.js';
import { SingleRedisTransport } from '../../src/pipeline/transport/SingleRedisTransport.js';
import {
  TransportClosed,
  type OutgoingBatch,
  type ReplicaWait,
} from '../../src/pipeline/transport/Transport.js';
import { checkpointWrite } from '../helpers/checkpointWrite.js';
import { randomId, testEnv } from '../helpers/env.js';
import { plant, suiteRedis, survivors, testRedis } from '../helpers/redis.js';

const suite = suiteRedis();

/** A transport on its own connection and channel, and the messages a subscriber received. */
async function setup(wait: ReplicaWait | null = null) {
  const id = randomId();
  const channel = `rc:${id}:chan`;
  const client = testRedis();
  const sub = testRedis();
  suite.open.push(
    () => client.disconnect(),
    () => sub.disconnect(),
  );
  // The order against the deletions is checked on one connection (keyspace test below):
  // a second connection's read after the message could not tell.
  const received: string[] = [];
  sub.on('message', (_c: string, message: string) => received.push(message));
  await sub.subscribe(channel);
  const transport = new SingleRedisTransport(client, {
    channel,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    wait,
  });
  const key = (name: string) => `rc:${id}:${name}`;
  const batch = (names: string[], seq: number): OutgoingBatch => {
    const keys = names.map(key);
    return { keys, message: JSON.stringify({ seq, keys }) };
  };
  const cpWrite = (over: Partial<CheckpointWrite> = {}): CheckpointWrite =>
    checkpointWrite({ key: `sluice:checkpoint:{rc:${id}}`, ...over });

  const messages = async (n: number) => {
    await expect.poll(() => received.length, { timeout: 5000 }).toBe(n);
    return received;
  };
  return { id, client, transport, key, batch, cpWrite, messages };
}

describe('SingleRedisTransport: one round trip, one write', () => {
  it('writes the checkpoint, removes every key and its lease key, and publishes each batch in order', async () => {
    const { transport, key, batch, cpWrite, messages } = await setup();
    const names = ['a', 'b', 'c', 'd'];
    await plant(suite.redis, [...names.map(key), ...names.map((n) => RedisKeys.lease(key(n)))]);
    await plant(suite.redis, [key('untouched')]);
    const cp = cpWrite();
    const ack = await transport.send({
      checkpoint: cp,
      batches: [batch(['a', 'b'], 1), batch(['c', 'd'], 2)],
    });
    expect(ack).toEqual({ checkpoint: 'written' });
    expect(await suite.redis.get(cp.key)).toBe(cp.json);
    expect(
      await survivors(suite.redis, [
        ...names.map(key),
        ...names.map((n) => RedisKeys.lease(key(n))),
      ]),
    ).toEqual([]);
    expect(await survivors(suite.redis, [key('untouched')])).toEqual([key('untouched')]);
    expect(await messages(2)).toEqual([batch(['a', 'b'], 1).message, batch(['c', 'd'], 2).message]);
  });

  it.each([
    ['the script', [['a', 'b'], ['c']]],
    ['a plain PUBLISH', [['a', 'b', 'c']]],
  ])(
    'on one subscriber connection the deletion of every key is seen before the message that announces it (%s)',
    async (_how, lists) => {
      const { id, transport, key, batch } = await setup();
      const events: string[] = [];
      const watcher = testRedis();
      suite.open.push(() => watcher.disconnect());
      const previous = (await suite.redis.config('GET', 'notify-keyspace-events'))[1] ?? '';
      await suite.redis.config('SET', 'notify-keyspace-events', 'Kg');
      suite.open.push(() => suite.redis.config('SET', 'notify-keyspace-events', previous));
      // Keyspace notifications and channel messages reach one connection in the order Redis ran the commands.
      watcher.on('pmessage', (_p: string, channel: string, event: string) => {
        events.push(`${event} ${channel.slice(channel.lastIndexOf(':') + 1)}`);
      });
      watcher.on('message', (_c: string, message: string) => {
        events.push(`message ${(JSON.parse(message) as { seq: number }).seq}`);
      });
      await watcher.psubscribe(`__keyspace@0__:rc:${id}:*`);
      await watcher.subscribe(`rc:${id}:chan`);
      await plant(suite.redis, ['a', 'b', 'c'].map(key));
      await transport.send({
        checkpoint: null,
        batches: lists.map((names, i) => batch(names, i + 1)),
      });
      await expect
        .poll(() => events.filter((e) => e.startsWith('message')).length, { timeout: 5000 })
        .toBe(lists.length);
      expect(events.filter((e) => !e.startsWith('set'))).toEqual([
        'del a',
        'del b',
        'del c',
        ...lists.map((_l, i) => `message ${i + 1}`),
      ]);
    },
  );

  it('a round without a checkpoint writes none; a checkpoint alone is written; an empty round sends nothing', async () => {
    const { transport, key, batch, cpWrite, messages } = await setup();
    await plant(suite.redis, [key('x')]);
    expect(await transport.send({ checkpoint: null, batches: [batch(['x'], 1)] })).toEqual({
      checkpoint: 'none',
    });
    expect(await survivors(suite.redis, [key('x')])).toEqual([]);
    const cp = cpWrite();
    expect(await suite.redis.get(cp.key)).toBe(null);
    expect(await transport.send({ checkpoint: cp, batches: [] })).toEqual({
      checkpoint: 'written',
    });
    expect(await suite.redis.get(cp.key)).toBe(cp.json);
    expect(await transport.send({ checkpoint: null, batches: [] })).toEqual({ checkpoint: 'none' });
    expect(await messages(1)).toEqual([batch(['x'], 1).message]);
  });

  it('a fenced-off checkpoint is refused, and the batches are still deleted and announced', async () => {
    const { id, transport, key, batch, cpWrite, messages } = await setup();
    const fenceKey = `sluice:fence:{rc:${id}}`;
    await suite.redis.set(fenceKey, '8'); // another instance took over with token 8
    await plant(suite.redis, [key('a')]);
    const cp = cpWrite({ fence: { key: fenceKey, token: 7 } });
    expect(await transport.send({ checkpoint: cp, batches: [batch(['a'], 1)] })).toEqual({
      checkpoint: 'fenced',
    });
    expect(await suite.redis.get(cp.key)).toBe(null);
    expect(await survivors(suite.redis, [key('a')])).toEqual([]);
    expect(await messages(1)).toEqual([batch(['a'], 1).message]);
    // The current token writes.
    const current = cpWrite({ fence: { key: fenceKey, token: 8 } });
    expect(await transport.send({ checkpoint: current, batches: [] })).toEqual({
      checkpoint: 'written',
    });
    expect(await suite.redis.get(cp.key)).toBe(cp.json);
  });

  it('a checkpoint built on another primary or dataset is refused as other-primary', async () => {
    const { transport, key, batch, cpWrite } = await setup();
    await plant(suite.redis, [key('a')]);
    const cp = cpWrite({ primary: 'not-this-run-id:nor-this-replid' });
    expect(await transport.send({ checkpoint: cp, batches: [batch(['a'], 1)] })).toEqual({
      checkpoint: 'other-primary',
    });
    expect(await suite.redis.get(cp.key)).toBe(null);
    expect(await survivors(suite.redis, [key('a')])).toEqual([]);
  });

  it('after SCRIPT FLUSH (a restarted or new Redis) the round loads the script and goes through once', async () => {
    const { client, transport, key, batch, messages } = await setup();
    const loads = vi.spyOn(client, 'script');
    await plant(suite.redis, [key('a'), key('b')]);
    await suite.redis.script('FLUSH');
    expect(
      await transport.send({ checkpoint: null, batches: [batch(['a'], 1), batch(['b'], 2)] }),
    ).toEqual({ checkpoint: 'none' });
    expect(await survivors(suite.redis, [key('a'), key('b')])).toEqual([]);
    // Published once, not retried.
    expect(await messages(2)).toEqual([batch(['a'], 1).message, batch(['b'], 2).message]);
    expect(transport.retries).toBe(0);
    expect(loads).toHaveBeenCalledTimes(1);
  });

  it('one batch without a checkpoint is its UNLINK and a plain PUBLISH: no script, none loaded after SCRIPT FLUSH', async () => {
    const { client, transport, key, batch, messages } = await setup();
    const loads = vi.spyOn(client, 'script');
    const sends = vi.spyOn(client, 'sendCommand');
    await plant(suite.redis, [key('a'), RedisKeys.lease(key('a'))]);
    await suite.redis.script('FLUSH');
    expect(await transport.send({ checkpoint: null, batches: [batch(['a'], 1)] })).toEqual({
      checkpoint: 'none',
    });
    expect(sends.mock.calls.map(([command]) => command.name)).toEqual(['unlink', 'publish']);
    expect(await survivors(suite.redis, [key('a'), RedisKeys.lease(key('a'))])).toEqual([]);
    expect(await messages(1)).toEqual([batch(['a'], 1).message]);
    expect(transport.retries).toBe(0);
    expect(loads).not.toHaveBeenCalled();
  });

  it("any other error is the transport's to retry: the script is not loaded again", async () => {
    const { id, client, transport, cpWrite } = await setup();
    const fenceKey = `sluice:fence:{rc:${id}}`;
    await suite.redis.hset(fenceKey, 'x', '1'); // the script's GET fails: WRONGTYPE
    await client.script('LOAD', roundScriptSha().script); // whatever SCRIPT FLUSH ran before
    const loads = vi.spyOn(client, 'script');
    const sent = transport.send({
      checkpoint: cpWrite({ fence: { key: fenceKey, token: 1 } }),
      batches: [],
    });
    await expect.poll(() => transport.retries, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
    transport.close();
    await expect(sent).rejects.toBeInstanceOf(TransportClosed);
    expect(loads).not.toHaveBeenCalled();
  });

  it('redis.waitReplicas: a round and a flush count only once the replicas have them (a Redis without replicas: retried)', async () => {
    const none = await setup({ replicas: 0, timeoutMs: 100 });
    await plant(suite.redis, [none.key('a')]);
    expect(
      await none.transport.send({ checkpoint: null, batches: [none.batch(['a'], 1)] }),
    ).toEqual({
      checkpoint: 'none',
    });
    expect(await none.transport.flush([none.key('*')], '{"keys":[]}')).toBe(0);
    const one = await setup({ replicas: 1, timeoutMs: 20 });
    await plant(suite.redis, [one.key('a')]);
    const round = one.transport.send({ checkpoint: null, batches: [one.batch(['a'], 1)] });
    await expect.poll(() => one.transport.retries, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
    one.transport.close();
    await expect(round).rejects.toBeInstanceOf(TransportClosed);
    expect(await survivors(suite.redis, [one.key('a')])).toEqual([]); // deleted; not acknowledged
    const other = await setup({ replicas: 1, timeoutMs: 20 });
    const flush = other.transport.flush([other.key('*')], '{"keys":[]}');
    await expect.poll(() => other.transport.retries, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
    other.transport.close();
    await expect(flush).rejects.toBeInstanceOf(TransportClosed);
  });

  it('a round leaves in one write to the socket: its UNLINKs, the script, the WAIT', async () => {
    const { client, transport, key, batch, cpWrite } = await setup({ replicas: 0, timeoutMs: 100 });
    await client.ping();
    const socket = client.stream as unknown as { _write: () => void; _writev: () => void };
    const single = vi.spyOn(socket, '_write');
    const several = vi.spyOn(socket, '_writev');
    const names = Array.from({ length: 600 }, (_, i) => `w${i}`); // two UNLINK commands
    await transport.send({
      checkpoint: cpWrite(),
      batches: [batch(names.slice(0, 300), 1), batch(names.slice(300), 2)],
    });
    expect(single).not.toHaveBeenCalled();
    expect(several).toHaveBeenCalledTimes(1);
    expect(await survivors(suite.redis, names.map(key))).toEqual([]);
  });

  it('a round sent before the connection is ready is queued and sent, in order, once it is', async () => {
    const { transport, key, batch, cpWrite, messages } = await setup();
    const lazy = new Redis(testEnv.redisUrl, { lazyConnect: true });
    suite.open.push(() => lazy.disconnect());
    const early = new SingleRedisTransport(lazy, {
      channel: (transport as unknown as { options: { channel: string } }).options.channel,
      clock: systemClock,
      logger: pino({ level: 'silent' }),
    });
    await plant(suite.redis, [key('a')]);
    const cp = cpWrite();
    const sent = early.send({ checkpoint: cp, batches: [batch(['a'], 1)] });
    expect(lazy.status).not.toBe('ready');
    expect(await sent).toEqual({ checkpoint: 'written' });
    expect(await survivors(suite.redis, [key('a')])).toEqual([]);
    expect(await suite.redis.get(cp.key)).toBe(cp.json);
    expect(await messages(1)).toEqual([batch(['a'], 1).message]);
  });

  it('a round of 1,500 keys (several UNLINK commands before the script) removes all of them and their leases', async () => {
    const { client, transport, key, batch } = await setup();
    const names = Array.from({ length: 1500 }, (_, i) => `k${i}`);
    const all = [...names.map(key), ...names.map((n) => RedisKeys.lease(key(n)))];
    await plant(suite.redis, all);
    const sends = vi.spyOn(client, 'sendCommand');
    await transport.send({
      checkpoint: null,
      batches: [batch(names.slice(0, 700), 1), batch(names.slice(700), 2)],
    });
    // 3,000 keys and lease keys in UNLINKs of at most UNLINK_CHUNK (1,000) arguments.
    expect(sends.mock.calls.map(([command]) => command.name)).toEqual([
      'unlink',
      'unlink',
      'unlink',
      'evalsha',
    ]);
    expect(await survivors(suite.redis, all)).toEqual([]);
  });
});
