import fc from 'fast-check';
import type { Cluster } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { SluiceError } from '../../src/errors/index.js';
import { systemClock } from '../../src/infra/clock.js';
import { execBySlot, mgetBySlot, unlinkCommands } from '../../src/infra/clusterCommands.js';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { keySlot } from '../../src/keys/slot.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { position } from '../../src/pipeline/position.js';
import { assembleStages, type Stages } from '../../src/pipeline/stages.js';
import { redisKeyArb } from '../helpers/arbitraries.js';

describe('unlinkCommands (per-slot UNLINK planning)', () => {
  it('never puts keys of two slots in one UNLINK, respects the chunk, and loses no key', () => {
    fc.assert(
      fc.property(
        fc.array(redisKeyArb, { maxLength: 300 }),
        fc.integer({ min: 1, max: 40 }),
        (keys, chunk) => {
          const commands = unlinkCommands(keys, chunk);
          const sent: string[] = [];
          for (const c of commands) {
            const [name, ...args] = c.args;
            expect(name).toBe('unlink');
            expect(args.length).toBeGreaterThan(0);
            expect(args.length).toBeLessThanOrEqual(chunk);
            for (const k of args) expect(keySlot(String(k))).toBe(c.slot);
            sent.push(...args.map(String));
          }
          expect(sent.sort()).toEqual([...keys].sort());
        },
      ),
    );
  });

  it('a data key and its lease key always travel in the same UNLINK', () => {
    fc.assert(
      fc.property(fc.uniqueArray(redisKeyArb, { maxLength: 200 }), (keys) => {
        const args = keys.flatMap((k) => [k, RedisKeys.lease(k)]);
        const commands = unlinkCommands(args, 1000);
        for (const k of keys) {
          const c = commands.find((x) => x.args.includes(k));
          expect(c?.args).toContain(RedisKeys.lease(k));
        }
      }),
    );
  });
});

// ── a cluster that records what it is sent ─────────────────────────────────

const NODES = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
const nodeOfSlot = (slot: number): string =>
  NODES[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2] as string;

type Sent =
  | { readonly type: 'pipeline'; readonly node: string; readonly commands: string[][] }
  | { readonly type: 'acked'; readonly node: string; readonly commands: string[][] }
  | { readonly type: 'publish'; readonly node: string; readonly message: Record<string, unknown> };

/** Keys of a command as ioredis sees them (UNLINK, MGET, SET: every argument / the first; EVAL: after numkeys). */
function commandKeys(c: readonly string[]): string[] {
  const [name, ...args] = c;
  if (name === 'unlink' || name === 'mget') return args;
  if (name === 'set') return args.slice(0, 1);
  if (name === 'eval') return args.slice(2, 2 + Number(args[1]));
  return [];
}

/**
 * Just enough of an ioredis Cluster for the sink: `slots`, `pipeline`,
 * `nodes`, `publish`. A pipeline is refused, as ioredis and Redis would,
 * when a command crosses slots or the pipeline crosses nodes. `hold`
 * delays the acknowledgement of pipelines to chosen nodes.
 */
class FakeCluster {
  readonly isCluster = true;
  readonly status = 'ready';
  readonly slots: string[][] = Array.from({ length: 16384 }, (_, s) => [nodeOfSlot(s)]);
  readonly log: Sent[] = [];
  hold: Promise<void> | null = null;
  fenceReply = 1;

  pipeline(commands: Array<Array<string | number>>): { exec: () => Promise<unknown[]> } {
    const cmds = commands.map((c) => c.map(String));
    return {
      exec: async () => {
        const nodes = new Set<string>();
        for (const c of cmds) {
          const slots = new Set(commandKeys(c).map(keySlot));
          if (slots.size > 1) throw new Error(`CROSSSLOT: ${c.join(' ')}`);
          for (const s of slots) nodes.add(nodeOfSlot(s));
        }
        if (nodes.size > 1) throw new Error('pipeline crosses nodes');
        const node = [...nodes][0] ?? 'random';
        this.log.push({ type: 'pipeline', node, commands: cmds });
        if (this.hold) await this.hold;
        this.log.push({ type: 'acked', node, commands: cmds });
        return cmds.map((c) => {
          if (c[0] === 'eval') return [null, this.fenceReply];
          if (c[0] === 'mget') return [null, c.slice(1).map((k) => `v:${k}`)];
          return [null, c[0] === 'unlink' ? c.length - 1 : 'OK'];
        });
      },
    };
  }

  nodes(): Array<{
    options: { host: string; port: number };
    publish: (ch: string, m: string) => Promise<number>;
  }> {
    return NODES.map((key) => {
      const [host, port] = key.split(':') as [string, string];
      return {
        options: { host, port: Number(port) },
        publish: (_ch: string, m: string) => {
          this.log.push({
            type: 'publish',
            node: key,
            message: JSON.parse(m) as Record<string, unknown>,
          });
          return Promise.resolve(1);
        },
      };
    });
  }

  publish(_ch: string, m: string): Promise<number> {
    this.log.push({
      type: 'publish',
      node: 'random',
      message: JSON.parse(m) as Record<string, unknown>,
    });
    return Promise.resolve(1);
  }

  refreshSlotsCache(): void {}
}

function checkpoint(pos: number): Checkpoint {
  return { position: position('binlog.000001', pos), gtid: undefined, at: 'now' };
}

/** The daemon's delivery stages on the fake cluster, with a little driver for the tests. */
function sinkOn(
  cluster: FakeCluster,
  extra: { fence?: { key: string; token: () => number }; onHalt?: (e: SluiceError) => void } = {},
): Stages & {
  add(keys: readonly string[], cp: Checkpoint): void;
  drain(): Promise<void>;
  close(): Promise<void>;
} {
  const stages = assembleStages({
    redis: cluster as unknown as Cluster,
    channel: 'sluice:invalidate',
    src: 'main',
    batchMaxKeys: 10_000,
    batchMaxDelayMs: 0,
    maxInFlightKeys: 100_000,
    heartbeatMs: 0,
    checkpoint: {
      key: RedisKeys.checkpoint('main'),
      ...(extra.fence === undefined ? {} : { fence: extra.fence }),
    },
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    onBackpressure: () => undefined,
    onHalt: extra.onHalt ?? (() => undefined),
  });
  return {
    ...stages,
    add(keys, cp) {
      stages.batcher.add(keys);
      stages.batcher.commit(cp);
    },
    drain: () => stages.dispatcher.drain(),
    close: () => stages.dispatcher.close(1000),
  };
}

describe('the delivery stages on a Redis Cluster', () => {
  const batch1 = Array.from({ length: 300 }, (_, i) => `user:${i}`);
  const batch2 = Array.from({ length: 300 }, (_, i) => `user:email:u${i}@x`);
  const checkpointKey = RedisKeys.checkpoint('main');
  const isCheckpoint = (c: readonly string[]): boolean => commandKeys(c).includes(checkpointKey);
  const unlinked = (entries: readonly Sent[]): string[] =>
    entries.flatMap((e) =>
      e.type === 'pipeline'
        ? e.commands.filter((c) => c[0] === 'unlink').flatMap((c) => c.slice(1))
        : [],
    );

  it('UNLINKs per slot, one pipeline per node; PUBLISH after every node acked; checkpoint only in a later round', async () => {
    const cluster = new FakeCluster();
    let release!: () => void;
    cluster.hold = new Promise((r) => (release = r));
    const sink = sinkOn(cluster);
    sink.add(batch1, checkpoint(100));
    // Batch 1 is in flight on all three nodes and nobody acknowledged yet.
    await vi.waitFor(() => expect(cluster.log.length).toBe(3));
    const firstRound = cluster.log.filter((e) => e.type === 'pipeline');
    expect(new Set(firstRound.map((e) => e.type === 'pipeline' && e.node))).toEqual(new Set(NODES));
    expect(firstRound).toHaveLength(3);
    expect(cluster.log.some((e) => e.type === 'publish')).toBe(false);
    expect(firstRound.some((e) => e.type === 'pipeline' && e.commands.some(isCheckpoint))).toBe(
      false,
    );

    // Batch 2 arrives while batch 1 is in flight.
    sink.add(batch2, checkpoint(200));
    release();
    cluster.hold = null;
    await sink.drain();

    const log = cluster.log;
    const publishes = log.flatMap((e, i) => (e.type === 'publish' ? [i] : []));
    expect(publishes).toHaveLength(2);
    const [p1, p2] = publishes as [number, number];
    // Every UNLINK of batch 1 was acknowledged before its PUBLISH, and carried its keys and leases.
    const round1 = log.slice(0, p1);
    expect(round1.filter((e) => e.type === 'acked')).toHaveLength(3);
    expect(new Set(unlinked(round1))).toEqual(
      new Set(batch1.flatMap((k) => [k, RedisKeys.lease(k)])),
    );
    expect((log[p1] as Extract<Sent, { type: 'publish' }>).message.keys).toEqual(batch1);
    // Round 2: batch 2's UNLINKs, with batch 1's checkpoint in its node's pipeline.
    const round2 = log.slice(p1 + 1, p2);
    const cp1 = round2.filter((e) => e.type === 'pipeline' && e.commands.some(isCheckpoint));
    expect(cp1).toHaveLength(1);
    expect(JSON.stringify(cp1[0])).toContain('"pos\\":100');
    expect(new Set(unlinked(round2))).toEqual(
      new Set(batch2.flatMap((k) => [k, RedisKeys.lease(k)])),
    );
    // Round 3: batch 2's checkpoint alone, after its PUBLISH.
    const round3 = log.slice(p2 + 1).filter((e) => e.type === 'pipeline');
    expect(round3).toHaveLength(1);
    expect(JSON.stringify(round3[0])).toContain('"pos\\":200');
    expect(sink.writer?.stored?.position.pos).toBe(200);
    // Both messages went through one node (the channel's), so they cannot overtake each other.
    const publishNodes = new Set(log.flatMap((e) => (e.type === 'publish' ? [e.node] : [])));
    expect(publishNodes).toEqual(new Set([nodeOfSlot(keySlot('sluice:invalidate'))]));
    await sink.close();
  });

  it('keys of any shape never produce a multi-slot UNLINK or a cross-node pipeline', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(redisKeyArb, { minLength: 1, maxLength: 400 }),
        async (keys) => {
          const cluster = new FakeCluster();
          const sink = sinkOn(cluster);
          sink.add(keys, checkpoint(1));
          await sink.drain(); // the fake throws (and the sink would retry forever) on a violation
          expect(new Set(unlinked(cluster.log))).toEqual(
            new Set(keys.flatMap((k) => [k, RedisKeys.lease(k)])),
          );
          expect(sink.dispatcher.stats.retries).toBe(0);
          await sink.close();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a stale fencing token halts the sink with E_FENCED; the checkpoint is not stored', async () => {
    const cluster = new FakeCluster();
    cluster.fenceReply = 0;
    const halted: SluiceError[] = [];
    const sink = sinkOn(cluster, {
      fence: { key: RedisKeys.fence('main'), token: () => 7 },
      onHalt: (e) => halted.push(e),
    });
    sink.add(['user:1'], checkpoint(100));
    await sink.drain();
    expect(halted.map((e) => e.code)).toEqual(['E_FENCED']);
    expect(sink.writer?.stored).toBe(null);
    const evals = cluster.log.filter(
      (e) => e.type === 'pipeline' && e.commands.some((c) => c[0] === 'eval'),
    );
    // The fenced write: counter and checkpoint in one slot, so one script.
    expect(evals).toHaveLength(1);
  });
});

describe('execBySlot / mgetBySlot', () => {
  it('returns replies in the order of the commands, across nodes', async () => {
    const cluster = new FakeCluster() as unknown as Cluster;
    const keys = Array.from({ length: 50 }, (_, i) => `k:${i}`);
    expect(await mgetBySlot(cluster, keys)).toEqual(keys.map((k) => `v:${k}`));
    const replies = await execBySlot(cluster, unlinkCommands(keys, 3));
    expect(replies.reduce((a: number, b) => a + Number(b), 0)).toBe(50);
  });

  it('rejects when a node refuses, so the caller retries the whole set', async () => {
    const cluster = new FakeCluster();
    const bad = { slot: 0, args: ['unlink', 'a', 'b', 'c'] } as const; // three slots: CROSSSLOT
    await expect(execBySlot(cluster as unknown as Cluster, [bad])).rejects.toThrow(/CROSSSLOT/);
  });
});
