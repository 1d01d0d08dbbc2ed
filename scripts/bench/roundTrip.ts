// One round of the daemon (SingleRedisTransport: 8 keys with their leases,
// the round script with a checkpoint write and one PUBLISH) sent over TCP
// (127.0.0.1) and over the bench Redis's Unix socket, alternating in blocks
// in one process: the client CPU (user + system) per round of each, and
// Redis's own CPU per round (INFO cpu, all its threads). What a round trip
// costs the daemon, without the binlog, sysbench or the run-to-run drift of
// the sustained scenario. A third client, over TCP, is a plain ioredis one
// without createRedisClient's readRepliesInline: its replies reach the
// parser a tick later, as ioredis leaves them (docs/benchmarks.md, ninth
// sitting). A fourth, `bare`, writes the same round's bytes (UnlinkCommand,
// RoundCommand, built as the daemon builds them) on a bare TCP socket and
// counts the replies (integers, a line each): what the round costs without
// ioredis's sendCommand, reply parsing and promises.
//   npm run build && node --import tsx scripts/bench/roundTrip.ts [ROUNDS_PER_BLOCK] [BLOCKS]
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { createRedisClient } from '../../src/infra/redis.js';
import { systemClock } from '../../src/infra/clock.js';
import { RoundCommand } from '../../src/pipeline/transport/RoundCommand.js';
import {
  SingleRedisTransport,
  UNLINK_CHUNK,
} from '../../src/pipeline/transport/SingleRedisTransport.js';
import type { Round } from '../../src/pipeline/transport/Transport.js';
import { UnlinkCommand } from '../../src/pipeline/transport/UnlinkCommand.js';
import { Redis } from 'ioredis';
import { position } from '../../src/pipeline/position.js';
import { bench, servicesUp } from './lib/env.js';
import { median } from './lib/stats.js';

const perBlock = Number(process.argv[2] ?? 3000);
const blocks = Number(process.argv[3] ?? 8);

servicesUp();
const logger = pino({ level: 'silent' });
const clients = {
  tcp: createRedisClient({ url: bench.redisUrl }, 'roundtrip-tcp') as Redis,
  socket: createRedisClient({ url: bench.redisSocketUrl }, 'roundtrip-socket') as Redis,
  tcpDeferred: new Redis(bench.redisUrl, {
    connectionName: 'sluice:roundtrip-deferred',
    maxRetriesPerRequest: 1,
  }),
};
const CHANNEL = 'sluice:bench:roundtrip';

/** The round's bytes on a bare socket, its replies counted (every reply here is one line). */
class BareRounds {
  private pending = 0;
  private done: (() => void) | null = null;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        if (--this.pending === 0) {
          const done = this.done;
          this.done = null;
          done?.();
        }
      }
    });
  }

  send(round: Round): Promise<void> {
    const end = RoundCommand.of(round, CHANNEL) as RoundCommand;
    const unlinks = UnlinkCommand.forKeyLists(
      round.batches.map((b) => b.keys),
      UNLINK_CHUNK,
    );
    this.socket.cork();
    for (const u of unlinks) this.socket.write(u.toWritable());
    this.socket.write(end.toWritable());
    this.socket.uncork();
    this.pending += unlinks.length + 1;
    return new Promise((resolve) => {
      this.done = resolve;
    });
  }
}

const bareSocket = connect(Number(new URL(bench.redisUrl).port), '127.0.0.1');
bareSocket.setNoDelay(true);
await new Promise((resolve) => bareSocket.once('connect', resolve));
const transports: Record<keyof typeof clients | 'bare', { send(round: Round): Promise<unknown> }> =
  {
    ...(Object.fromEntries(
      Object.entries(clients).map(([k, c]) => [
        k,
        new SingleRedisTransport(c, { channel: CHANNEL, clock: systemClock, logger }),
      ]),
    ) as Record<keyof typeof clients, SingleRedisTransport>),
    bare: new BareRounds(bareSocket),
  };

async function redisCpuMs(): Promise<number> {
  const info = await clients.tcp.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

async function block(
  kind: keyof typeof transports,
  n: number,
): Promise<{ client: number; redis: number }> {
  const t = transports[kind];
  const r0 = await redisCpuMs();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const keys = Array.from({ length: 8 }, (_, k) => `rt:${kind}:${i}:${k}`);
    await t.send({
      checkpoint: {
        checkpoint: { position: position('binlog.000001', 4 + i), gtid: undefined },
        key: 'sluice:checkpoint:{roundtrip}',
        json: `{"file":"binlog.000001","pos":${4 + i}}`,
        fence: null,
        primary: 'x',
      },
      batches: [{ keys, message: `{"v":1,"src":"rt","seq":${i},"keys":${JSON.stringify(keys)}}` }],
    });
  }
  const c = process.cpuUsage(c0);
  const r1 = await redisCpuMs();
  return { client: (c.user + c.system) / n, redis: ((r1 - r0) * 1000) / n };
}

// The bare socket last: its EVALSHA needs the script an ioredis round loaded.
const kinds = ['tcp', 'socket', 'tcpDeferred', 'bare'] as const;
for (const kind of kinds) await block(kind, 500); // warm-up: compiled paths, scripts loaded
const results = {
  tcp: [] as Array<{ client: number; redis: number }>,
  socket: [] as Array<{ client: number; redis: number }>,
  tcpDeferred: [] as Array<{ client: number; redis: number }>,
  bare: [] as Array<{ client: number; redis: number }>,
};
for (let b = 0; b < blocks; b++) {
  // Each block a different order: none always goes first.
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[(b + i) % kinds.length] as (typeof kinds)[number];
    results[kind].push(await block(kind, perBlock));
  }
}
const summary = (kind: keyof typeof transports) => ({
  clientUs: median(results[kind].map((r) => r.client)),
  redisUs: median(results[kind].map((r) => r.redis)),
  clientBlocks: results[kind].map((r) => Math.round(r.client)),
});
const tcp = summary('tcp');
const socket = summary('socket');
const tcpDeferred = summary('tcpDeferred');
const bare = summary('bare');
/** Per block, `a`'s client CPU over `b`'s (same block). */
const perBlockRatio = (a: keyof typeof transports, b: keyof typeof transports): number[] =>
  results[a].map((r, i) => r.client / (results[b][i]?.client ?? NaN));
const inlineByBlock = perBlockRatio('tcp', 'tcpDeferred');
const bareByBlock = perBlockRatio('bare', 'tcp');
console.log(
  JSON.stringify(
    {
      perBlock,
      blocks,
      tcp,
      socket,
      tcpDeferred,
      bare,
      clientRatio: socket.clientUs / tcp.clientUs,
      inlineRatioByBlock: inlineByBlock.map((r) => Number(r.toFixed(3))),
      inlineRatio: median(inlineByBlock),
      bareRatioByBlock: bareByBlock.map((r) => Number(r.toFixed(3))),
      bareRatio: median(bareByBlock),
    },
    null,
    1,
  ),
);
for (const c of Object.values(clients)) c.disconnect();
bareSocket.destroy();
