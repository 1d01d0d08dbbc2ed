// Reading one binlog range to its end, timed, with its CPU: `sluice run`
// started at the range start (until every key is acknowledged) and the bare
// zongji worker that only counts rows (workers/zongjiCount.ts). Used by the
// replay and smallTransactions scenarios.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';
import { writeConfig } from './config.js';
import { bench, benchRedis, binlogHead } from './env.js';
import {
  memoryOf,
  pidFrom,
  pollUntil,
  schedCpuMs,
  startSluice,
  startWorker,
  type Proc,
} from './procs.js';

export interface Range {
  readonly file: string;
  readonly from: number;
  readonly to: number;
  readonly buildSeconds: number;
}

export interface Run {
  readonly rows: number;
  readonly seconds: number;
  /** CPU time (user + system) of the reading process over the timed span. */
  readonly cpuMs?: number;
  /** CPU time of the bench Redis and MariaDB over the same span (Sluice runs only). */
  readonly redisCpuMs?: number;
  readonly mariadbCpuMs?: number;
  readonly rssPeak?: number;
  readonly keys?: number;
  readonly batches?: number;
}

/**
 * The range last built into `file`, reused with BENCH_REUSE_RANGE=1 (while
 * iterating) when it still ends at the binlog's head and `fits` it (events
 * after the range would keep a reader busy past its end); else `build` makes
 * a new one, which is saved for next time.
 */
export async function reusableRange<R extends Range>(
  conn: Connection,
  file: string,
  build: () => Promise<R>,
  fits: (r: R) => boolean = () => true,
): Promise<R> {
  if (process.env.BENCH_REUSE_RANGE === '1' && existsSync(file)) {
    const r = JSON.parse(readFileSync(file, 'utf8')) as R;
    const head = await binlogHead(conn);
    if (head.file === r.file && head.pos === r.to && fits(r)) return r;
  }
  const r = await build();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(r));
  return r;
}

export interface SluiceRun {
  /** The source name (its checkpoint key) and channel of this run. */
  readonly name: string;
  readonly channel: string;
  readonly rules: ReadonlyArray<{ table: string; keys: readonly string[] }>;
  /** Another built checkout (a baseline); default: BENCH_SLUICE_ROOT, else this one. */
  readonly root?: string;
}

/**
 * The compiled `sluice run` (default batch settings) started at the range
 * start; timed from its `binlog connecting` log line to the arrival, at a
 * subscriber of its channel, of the message of the batch that carries the
 * range's last boundary (Redis runs that PUBLISH after the UNLINKs of every
 * earlier key: one connection, pipeline order); then the stored checkpoint
 * is checked to reach the range end (untimed).
 */
export async function runSluice(r: Range, redis: Redis, run: SluiceRun): Promise<Run> {
  const config = writeConfig({
    name: run.name,
    startFrom: `${r.file}:${r.from}`,
    channel: run.channel,
    rules: run.rules,
  });
  const cpKey = `sluice:checkpoint:${run.name}`;
  await redis.del(cpKey);
  // Matched on the raw bytes, near the end: `pos` follows the keys (and
  // since the watermark, `gtid` may follow `pos`).
  const lastBatch = Buffer.from(`"pos":"${r.file}:${r.to}"`);
  let publishedAt: number | null = null;
  const subscriber = benchRedis();
  subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    if (publishedAt === null && message.subarray(-(lastBatch.length + 128)).includes(lastBatch)) {
      publishedAt = Date.now();
    }
  });
  await subscriber.subscribe(run.channel);
  const daemon: Proc = startSluice('run', config, [], 'run', run.root);
  try {
    const connecting = await daemon.waitFor((l) => l.msg === 'binlog connecting');
    const startedAt = Date.parse(String(connecting.time));
    const cpu0 = schedCpuMs(daemon.pid);
    const redisPid = pidFrom(bench.redisPidFile);
    const mariadbPid = pidFrom(bench.mariadbPidFile);
    const redis0 = schedCpuMs(redisPid);
    const mariadb0 = schedCpuMs(mariadbPid);
    const endedAt = await pollUntil(
      () => publishedAt ?? undefined,
      "the message of the range's last batch",
      120_000,
    );
    const { peak } = memoryOf(daemon.pid);
    const cpu = schedCpuMs(daemon.pid) - cpu0;
    const redisCpu = schedCpuMs(redisPid) - redis0;
    const mariadbCpu = schedCpuMs(mariadbPid) - mariadb0;
    await pollUntil(
      async () => {
        const raw = await redis.get(cpKey);
        if (raw === null) return undefined;
        const cp = JSON.parse(raw) as { file: string; pos: number };
        return cp.file === r.file && cp.pos >= r.to ? true : undefined;
      },
      'the checkpoint to reach the range end',
      30_000,
    );
    await daemon.stop();
    const stopped = daemon.lines.find((l) => l.msg === 'pipeline stopped');
    return {
      rows: Number(stopped?.rows ?? Number.NaN),
      seconds: (endedAt - startedAt) / 1000,
      rssPeak: peak,
      cpuMs: cpu,
      redisCpuMs: redisCpu,
      mariadbCpuMs: mariadbCpu,
      keys: Number(stopped?.keys ?? Number.NaN),
      batches: Number(stopped?.batches ?? Number.NaN),
    };
  } finally {
    await daemon.stop();
    subscriber.disconnect();
  }
}

/** A worker that reads the range and prints one JSON line: {rows, startedAt, endedAt, rssPeak, cpuMs[, keys]}. */
export async function runWorker(file: string, args: readonly string[]): Promise<Run> {
  const worker = startWorker(file, args);
  try {
    const line = await worker.waitFor((l) => typeof l.rows === 'number', 120_000);
    await worker.exited;
    const o = line as unknown as {
      rows: number;
      startedAt: number;
      endedAt: number;
      rssPeak: number;
      cpuMs: number;
      keys?: number;
    };
    return {
      rows: o.rows,
      seconds: (o.endedAt - o.startedAt) / 1000,
      rssPeak: o.rssPeak,
      cpuMs: o.cpuMs,
      ...(o.keys === undefined ? {} : { keys: o.keys }),
    };
  } finally {
    await worker.stop();
  }
}
