// Where a live listener's CPU goes, per committed transaction: the daemon
// against the floor (a bare zongji listener decoding the same tables) under
// sysbench oltp_write_only at a FIXED rate, so both see the same stream and
// neither's speed changes how much work there is (the sustained scenario runs
// sysbench flat out, and its transaction rate moves with whoever listens).
//
//   node --import tsx scripts/bench/liveCpu.ts [RATE=1500] [SECONDS=15] [ROUNDS=3]
//
// Per listener and round: CPU time per transaction (scheduler accounting)
// split by thread (the main thread, V8's helper threads, libuv's pool, ...),
// the main thread's wake-ups (voluntary context switches) and preemptions per
// transaction, and for the daemon its Redis round trips, batches and
// checkpoint writes per transaction.
//   BENCH_BASELINE_ROOT=/path  another built checkout's daemon in the same rounds
//   BENCH_BASELINE_ENV='{"NAME":"value"}'  environment of that daemon only
//   BENCH_BASELINE_INVALIDATION='{"batchMaxDelayMs":10}'  `invalidation`
//     settings of that daemon only (with BENCH_BASELINE_ROOT unset: this
//     build against itself with other settings)
//   BENCH_LIVE_DAEMON_NODE_OPTIONS, BENCH_LIVE_FLOOR_NODE_OPTIONS  NODE_OPTIONS
//     of the daemons or of the floor (e.g. --perf-basic-prof)
//   BENCH_LIVE_WARMUP=30  seconds of the same load before each measured pass
//     (with 5 s the daemon was still compiling: its helper threads took
//     15.5 µs per transaction, 1.7 µs after 40 s; docs/benchmarks.md)
//   BENCH_LIVE_PERF=1  perf record -e cpu-clock of each pass (.data/bench/work)
//   BENCH_LIVE_MINIMAL=1  a third listener, the least an invalidator must do
//     (workers/zongjiRounds.ts: the floor's decoding, plus the same keys sent
//     in rounds of one UNLINK and one PUBLISH on a bare socket, on the
//     daemon's batching delay; BENCH_LIVE_MINIMAL_DELAY=2 to change it)
// A diagnostic for issue 15 (docs/benchmarks.md), not part of `npm run bench`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeConfig } from './lib/config.js';
import {
  adminConnection,
  randomServerId,
  resetBenchRedis,
  ROOT,
  servicesUp,
  WORK_DIR,
} from './lib/env.js';
import { startNode, startWorker, threadStats, type Proc, type ThreadStats } from './lib/procs.js';
import { median } from './lib/stats.js';
import { ensureSysbench, runSysbench, sysbenchRules, type SysbenchShape } from './lib/sysbench.js';

const RATE = Number(process.argv[2] ?? 1500);
const SECONDS = Number(process.argv[3] ?? 15);
const ROUNDS = Number(process.argv[4] ?? 3);
/** Seconds of the same load before each measured pass (not measured): compiled, heap grown. */
const WARMUP = Number(process.env.BENCH_LIVE_WARMUP ?? 30);
const TABLES = 4;
/** BENCH_BASELINE_ROOT: another built checkout's daemon, measured in the same rounds. */
const BASELINE = process.env.BENCH_BASELINE_ROOT;
/** BENCH_BASELINE_INVALIDATION: the baseline daemon's own `invalidation` settings (JSON). */
const BASELINE_SETTINGS = process.env.BENCH_BASELINE_INVALIDATION;
/** A baseline daemon runs: another build, or this one with other settings. */
const WITH_BASELINE = BASELINE !== undefined || BASELINE_SETTINGS !== undefined;
/** BENCH_LIVE_MINIMAL=1: also measure the minimal invalidator (workers/zongjiRounds.ts). */
const WITH_MINIMAL = process.env.BENCH_LIVE_MINIMAL === '1';
/** Its batching delay: the daemon's default `batchMaxDelayMs` (BENCH_LIVE_MINIMAL_DELAY to change). */
const MINIMAL_DELAY_MS = Number(process.env.BENCH_LIVE_MINIMAL_DELAY ?? 2);
/** How the summary names the baseline. */
const BASELINE_LABEL = [
  BASELINE ?? 'this build',
  ...(BASELINE_SETTINGS ? [BASELINE_SETTINGS] : []),
].join(', ');
const SHAPE: SysbenchShape = { tables: TABLES, tableSize: 10_000, threads: 8, rate: RATE };

interface Measured {
  readonly usPerTx: number;
  /** CPU µs per transaction by thread group: main, or the thread's name. */
  readonly byGroup: Record<string, number>;
  readonly wakeupsPerTx: number;
  readonly preemptionsPerTx: number;
  readonly transactions: number;
}

async function measure(listener: Proc, who: string, round: number): Promise<Measured> {
  await runSysbench('run', { ...SHAPE, seconds: WARMUP }); // warm-up, not measured
  const before = threadStats(listener.pid);
  // BENCH_LIVE_PERF=1: on-CPU samples of the listener (perf's cpu-clock: only
  // time on a CPU counts, kernel included; V8's --cpu-prof samples wall time).
  const perf =
    process.env.BENCH_LIVE_PERF === '1'
      ? spawn(
          'perf',
          [
            'record',
            '-e',
            'cpu-clock',
            '-F',
            '1999',
            '-g',
            '-p',
            String(listener.pid),
            '-o',
            join(WORK_DIR, `perf-${who}-${round}.data`),
          ],
          { stdio: 'ignore' },
        )
      : null;
  // Settles when perf has written its file, or could not start at all.
  const perfDone =
    perf === null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          perf.once('exit', () => resolve());
          perf.once('error', (err) => {
            console.error(`perf: ${err.message} (apt-get install linux-perf)`);
            resolve();
          });
        });
  const output = await runSysbench('run', { ...SHAPE, seconds: SECONDS });
  const after = threadStats(listener.pid);
  perf?.kill('SIGINT');
  await perfDone;
  const transactions = Number(/transactions:\s+(\d+)/.exec(output)?.[1] ?? Number.NaN);
  const byGroup: Record<string, number> = {};
  let total = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid);
    const ns = a.cpuNs - (b?.cpuNs ?? 0);
    const group = tid === listener.pid ? 'main' : a.name;
    byGroup[group] = (byGroup[group] ?? 0) + ns / 1000 / transactions;
    total += ns;
  }
  const main = after.get(listener.pid) as ThreadStats;
  const main0 = before.get(listener.pid) as ThreadStats;
  return {
    usPerTx: total / 1000 / transactions,
    byGroup,
    wakeupsPerTx: (main.voluntary - main0.voluntary) / transactions,
    preemptionsPerTx: (main.involuntary - main0.involuntary) / transactions,
    transactions,
  };
}

const extraEnv = (name: string): NodeJS.ProcessEnv =>
  process.env[name] ? { NODE_OPTIONS: process.env[name] } : {};

async function main(): Promise<void> {
  servicesUp();
  await resetBenchRedis();
  ensureSysbench((t) => console.error(t));
  const conn = await adminConnection();
  await conn.query('CREATE DATABASE IF NOT EXISTS sbtest');
  await runSysbench('cleanup', SHAPE);
  await runSysbench('prepare', SHAPE);
  await runSysbench('run', { ...SHAPE, rate: 0, seconds: 10 }); // fresh tables settle
  await conn.end();
  const rules = sysbenchRules(TABLES);
  const config = writeConfig({
    name: 'bench-live-cpu',
    startFrom: 'end',
    channel: 'sluice:bench:live-cpu',
    rules,
  });
  const baselineConfig =
    BASELINE_SETTINGS === undefined
      ? config
      : writeConfig({
          name: 'bench-live-cpu-baseline',
          startFrom: 'end',
          channel: 'sluice:bench:live-cpu',
          rules,
          invalidation: JSON.parse(BASELINE_SETTINGS) as Record<string, number>,
        });
  const daemonOf = async (
    root: string,
    env: NodeJS.ProcessEnv = {},
    file = config,
  ): Promise<Proc> => {
    const p = startNode([join(root, 'bin/sluice.js'), 'run', '--config', file], {
      name: 'sluice-run',
      env: { ...extraEnv('BENCH_LIVE_DAEMON_NODE_OPTIONS'), ...env },
    });
    await p.waitFor((l) => l.msg === 'binlog streaming');
    return p;
  };
  const listeners = {
    daemon: () => daemonOf(ROOT),
    // BENCH_BASELINE_ENV='{"NAME":"value"}': environment of the baseline's daemon only.
    baseline: () =>
      daemonOf(
        BASELINE ?? ROOT,
        JSON.parse(process.env.BENCH_BASELINE_ENV ?? '{}') as NodeJS.ProcessEnv,
        baselineConfig,
      ),
    floor: async (): Promise<Proc> => {
      const p = startWorker(
        'zongjiUnlink.ts',
        [
          String(randomServerId()),
          'bench',
          'probe_floor',
          'floor:',
          rules.map((r) => r.table).join(','),
        ],
        extraEnv('BENCH_LIVE_FLOOR_NODE_OPTIONS'),
      );
      await p.waitFor((l) => l.ready === true);
      return p;
    },
    minimal: async (): Promise<Proc> => {
      const p = startWorker(
        'zongjiRounds.ts',
        [
          String(randomServerId()),
          rules.map((r) => r.table).join(','),
          String(MINIMAL_DELAY_MS),
          'sluice:bench:live-cpu',
        ],
        extraEnv('BENCH_LIVE_FLOOR_NODE_OPTIONS'),
      );
      await p.waitFor((l) => l.ready === true);
      return p;
    },
  };
  const results: Array<{ round: number; who: string; m: Measured; rounds: number | undefined }> =
    [];
  for (let round = 1; round <= ROUNDS; round++) {
    const who3: ReadonlyArray<keyof typeof listeners> = [
      'daemon',
      ...(WITH_BASELINE ? (['baseline'] as const) : []),
      ...(WITH_MINIMAL ? (['minimal'] as const) : []),
      'floor',
    ];
    // Rotated, so that over the rounds each listener takes each place in the
    // order (reversing every other round left the middle one always in the
    // middle: a place's own effect, e.g. what the pass before it left
    // behind, then looked like the listener's).
    const shift = (round - 1) % who3.length;
    const order = [...who3.slice(shift), ...who3.slice(0, shift)];
    for (const who of order) {
      const p = await listeners[who]();
      const m = await measure(p, who, round);
      await p.stop();
      const stopped = p.lines.find((l) => l.msg === 'pipeline stopped');
      const perTx = (field: string): number =>
        Number(stopped?.[field]) / Number(stopped?.transactions);
      const rounds = stopped ? perTx('rounds') : undefined;
      if (stopped)
        console.log(
          `  ${who} over its whole run: ${['rounds', 'batches', 'checkpoints'].map((f) => `${f} ${perTx(f).toFixed(3)}/tx`).join(', ')}`,
        );
      results.push({ round, who, m, rounds });
      const groups = Object.entries(m.byGroup)
        .sort((a, b) => b[1] - a[1])
        .map(([g, us]) => `${g} ${us.toFixed(1)}`)
        .join(', ');
      console.log(
        `round ${round} ${who.padEnd(6)} ${m.usPerTx.toFixed(1)} µs/tx (${m.transactions} tx) [${groups}] ` +
          `main wake-ups ${m.wakeupsPerTx.toFixed(2)}/tx, preempted ${m.preemptionsPerTx.toFixed(2)}/tx` +
          (rounds === undefined ? '' : `, round trips ${rounds.toFixed(3)}/tx`),
      );
    }
  }
  /** `a`'s CPU per transaction over `b`'s, by round, and their median, as printed. */
  const byRound = (a: string, b: string): string => {
    const of = (who: string, round: number): number =>
      results.find((r) => r.round === round && r.who === who)?.m.usPerTx as number;
    const ratios = Array.from({ length: ROUNDS }, (_, i) => of(a, i + 1) / of(b, i + 1));
    return `${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}×)`;
  };
  if (WITH_BASELINE)
    console.log(`daemon ÷ baseline (${BASELINE_LABEL}) by round: ${byRound('daemon', 'baseline')}`);
  if (WITH_MINIMAL)
    console.log(
      `daemon ÷ minimal invalidator (zongjiRounds.ts, ${MINIMAL_DELAY_MS} ms) by round: ${byRound('daemon', 'minimal')}`,
    );
  console.log(
    `sysbench oltp_write_only at ${RATE} tx/s, ${SECONDS} s per pass; daemon ÷ floor CPU per transaction by round: ${byRound('daemon', 'floor')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
