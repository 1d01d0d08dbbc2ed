// What `redis.waitReplicas` costs the daemon's Redis stage, and what the
// primary check on every checkpoint write costs. Drives the real
// SingleRedisTransport (the stage that sends rounds) against a private
// primary and replica on loopback, with and without WAIT, in interleaved
// rounds; prints a markdown table (docs/benchmarks.md keeps the last one).
//
//   npm run bench:wait        # = node --import tsx scripts/bench/waitReplicas.ts
//
// Ports: SLUICE_BENCH_WAIT_PORTS (default "6422 6423": primary, replica).
// On loopback a replica acknowledges within microseconds: on a network,
// each WAIT adds at least one round trip to the slowest replica asked for.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { systemClock } from '../../src/infra/clock.js';
import { encodeCheckpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import type { CheckpointWrite } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { checkpointCommand } from '../../src/pipeline/checkpoint/checkpointCommand.js';
import { identityText, probePrimary } from '../../src/pipeline/checkpoint/PrimaryWatch.js';
import { position } from '../../src/pipeline/position.js';
import { SingleRedisTransport } from '../../src/pipeline/transport/SingleRedisTransport.js';
import type { ReplicaWait } from '../../src/pipeline/transport/Transport.js';
import { distribution, median, ms, rate } from './lib/stats.js';

const [PRIMARY, REPLICA] = (process.env.SLUICE_BENCH_WAIT_PORTS ?? '6422 6423')
  .split(/\s+/)
  .map(Number) as [number, number];
const ROUNDS = 5;
const LONE_COMMITS = 1000;
const KEYS = 300_000;
const BATCH_KEYS = 500;
const ROUND_KEYS = 10_000;
const CHECKPOINT_WRITES = 3000;
const silent = pino({ level: 'silent' });

function startServer(port: number, dir: string, extra: string[] = []): ChildProcess {
  return spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extra,
    ],
    { stdio: 'ignore' },
  );
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function write(key: string, pos: number, primary: string | null): CheckpointWrite {
  const checkpoint = { position: position('binlog.000001', pos), gtid: undefined };
  return { checkpoint, key, json: encodeCheckpoint(checkpoint), fence: null, primary };
}

/** Sequential lone commits (one key, its message, the checkpoint): ms per acknowledged round. */
async function loneCommits(
  transport: SingleRedisTransport,
  primary: string,
  run: number,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < LONE_COMMITS; i++) {
    const key = `wb:${run}:lone:${i}`;
    const started = process.hrtime.bigint();
    await transport.send({
      checkpoint: write('wb:checkpoint', i, primary),
      batches: [{ keys: [key], message: JSON.stringify({ v: 1, src: 'wb', seq: i, keys: [key] }) }],
    });
    out.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return out;
}

/** KEYS keys in rounds of ROUND_KEYS (batches of BATCH_KEYS), as a replay sends them: keys/s. */
async function replay(
  transport: SingleRedisTransport,
  primary: string,
  run: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  let seq = 0;
  for (let r = 0; r < KEYS / ROUND_KEYS; r++) {
    const batches = [];
    for (let b = 0; b < ROUND_KEYS / BATCH_KEYS; b++) {
      const keys = Array.from({ length: BATCH_KEYS }, (_, k) => `wb:${run}:r:${r}:${b}:${k}`);
      batches.push({ keys, message: JSON.stringify({ v: 1, src: 'wb', seq: ++seq, keys }) });
    }
    await transport.send({ checkpoint: write('wb:checkpoint', r, primary), batches });
  }
  return KEYS / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function checkpointWrites(redis: Redis, primary: string | null): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < CHECKPOINT_WRITES; i++) {
    const started = process.hrtime.bigint();
    await redis.call(...checkpointCommand(write('wb:checkpoint', i, primary)));
    out.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-wait-'));
  const servers = [
    startServer(PRIMARY, join(dir)),
    startServer(REPLICA, join(dir), [
      '--replicaof',
      '127.0.0.1',
      String(PRIMARY),
      '--dbfilename',
      'replica.rdb',
    ]),
  ];
  const redis = new Redis(PRIMARY, '127.0.0.1');
  const replica = new Redis(REPLICA, '127.0.0.1');
  for (const c of [redis, replica]) c.on('error', () => undefined);
  try {
    await until('replica in sync', async () =>
      (await replica.info('replication')).includes('master_link_status:up'),
    );
    const primary = identityText(await probePrimary(redis, 'wb:checkpoint'));
    const transports = (wait: ReplicaWait | null) =>
      new SingleRedisTransport(redis, { channel: 'wb', clock: systemClock, logger: silent, wait });
    const plain = transports(null);
    const waiting = transports({ replicas: 1, timeoutMs: 1000 });

    const lone = { plain: [] as number[], wait: [] as number[] };
    const keysPerSec = { plain: [] as number[], wait: [] as number[] };
    const cp = { set: [] as number[], checked: [] as number[] };
    for (let run = 0; run < ROUNDS; run++) {
      lone.plain.push(...(await loneCommits(plain, primary, run)));
      lone.wait.push(...(await loneCommits(waiting, primary, run + 100)));
      keysPerSec.plain.push(await replay(plain, primary, run));
      keysPerSec.wait.push(await replay(waiting, primary, run + 100));
      cp.set.push(...(await checkpointWrites(redis, null)));
      cp.checked.push(...(await checkpointWrites(redis, primary)));
      await redis.flushall();
    }
    const d = { plain: distribution(lone.plain), wait: distribution(lone.wait) };
    const c = { set: distribution(cp.set), checked: distribution(cp.checked) };
    const server = (await redis.info('server')).match(/redis_version:(\S+)/)?.[1] ?? '?';
    const waits = (await redis.info('commandstats')).match(/cmdstat_wait:calls=(\d+)/)?.[1] ?? '0';
    console.log(
      `Redis ${server}, primary :${PRIMARY} and one replica :${REPLICA} on loopback; ${ROUNDS} interleaved rounds; ${waits} WAITs answered.\n`,
    );
    console.log('| measure | waitReplicas: 0 | waitReplicas: 1 |');
    console.log('|---|---|---|');
    console.log(
      `| lone commit (1 key + message + checkpoint, one round trip), p50 / p99 / max | ${ms(d.plain.p50)} / ${ms(d.plain.p99)} / ${ms(d.plain.max)} | ${ms(d.wait.p50)} / ${ms(d.wait.p99)} / ${ms(d.wait.max)} |`,
    );
    const spread = (v: readonly number[]): string =>
      `${rate(median(v))} (${rate(Math.min(...v))}–${rate(Math.max(...v))})`;
    console.log(
      `| replay-sized rounds (${ROUND_KEYS.toLocaleString('en')} keys, batches of ${BATCH_KEYS}), keys/s, median (min–max) of rounds | ${spread(keysPerSec.plain)} | ${spread(keysPerSec.wait)} |`,
    );
    console.log(
      `\n| checkpoint write alone (${CHECKPOINT_WRITES} sequential) | p50 / p99 |\n|---|---|\n| plain SET | ${ms(c.set.p50)} / ${ms(c.set.p99)} |\n| checkpoint-set with the primary check (INFO in Lua) | ${ms(c.checked.p50)} / ${ms(c.checked.p99)} |`,
    );
  } finally {
    redis.disconnect();
    replica.disconnect();
    for (const s of servers) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
