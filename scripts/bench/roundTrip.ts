// One round of the daemon (SingleRedisTransport: 8 keys with their leases,
// the round script with a checkpoint write and one PUBLISH) sent over TCP
// (127.0.0.1) and over the bench Redis's Unix socket, alternating in blocks
// in one process: the client CPU (user + system) per round of each, and
// Redis's own CPU per round (INFO cpu, all its threads). What a round trip
// costs the daemon, without the binlog, sysbench or the run-to-run drift of
// the sustained scenario. A third client, over TCP, is a plain ioredis one
// without createRedisClient's readRepliesInline: its replies reach the
// parser a tick later, as ioredis leaves them (docs/benchmarks.md, ninth
// sitting).
//   npm run build && node --import tsx scripts/bench/roundTrip.ts [ROUNDS_PER_BLOCK] [BLOCKS]
import { pino } from 'pino';
import { createRedisClient } from '../../src/infra/redis.js';
import { systemClock } from '../../src/infra/clock.js';
import { SingleRedisTransport } from '../../src/pipeline/transport/SingleRedisTransport.js';
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
const transports = Object.fromEntries(
  Object.entries(clients).map(([k, c]) => [
    k,
    new SingleRedisTransport(c, { channel: 'sluice:bench:roundtrip', clock: systemClock, logger }),
  ]),
) as Record<keyof typeof clients, SingleRedisTransport>;

async function redisCpuMs(): Promise<number> {
  const info = await clients.tcp.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

async function block(
  kind: keyof typeof clients,
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

const kinds = ['tcp', 'socket', 'tcpDeferred'] as const;
for (const kind of kinds) await block(kind, 500); // warm-up: compiled paths, scripts loaded
const results = {
  tcp: [] as Array<{ client: number; redis: number }>,
  socket: [] as Array<{ client: number; redis: number }>,
  tcpDeferred: [] as Array<{ client: number; redis: number }>,
};
for (let b = 0; b < blocks; b++) {
  // Each block a different order: none always goes first.
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[(b + i) % kinds.length] as (typeof kinds)[number];
    results[kind].push(await block(kind, perBlock));
  }
}
const summary = (kind: keyof typeof clients) => ({
  clientUs: median(results[kind].map((r) => r.client)),
  redisUs: median(results[kind].map((r) => r.redis)),
  clientBlocks: results[kind].map((r) => Math.round(r.client)),
});
const tcp = summary('tcp');
const socket = summary('socket');
const tcpDeferred = summary('tcpDeferred');
// Per block, the inline TCP client's CPU over the deferred one's (same block).
const inlineByBlock = results.tcp.map((r, b) => r.client / (results.tcpDeferred[b]?.client ?? NaN));
console.log(
  JSON.stringify(
    {
      perBlock,
      blocks,
      tcp,
      socket,
      tcpDeferred,
      clientRatio: socket.clientUs / tcp.clientUs,
      inlineRatioByBlock: inlineByBlock.map((r) => Number(r.toFixed(3))),
      inlineRatio: median(inlineByBlock),
    },
    null,
    1,
  ),
);
for (const c of Object.values(clients)) c.disconnect();
