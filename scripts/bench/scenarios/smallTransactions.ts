// Scenario: CPU per small transaction, reading a fixed range.
//
// The sustained scenario measures CPU per transaction live, where the
// machine's load moves every figure (rounds per transaction, scheduling,
// sysbench's own rate). This one fixes the work: sysbench oltp_write_only
// (the sustained scenario's 4 tables and 2 key templates per table) runs
// BENCH_SMALLTX_EVENTS transactions (default 20,000; 4 threads) into a fresh
// binlog file, and then each listener reads exactly that range from its
// start to its end, one at a time, interleaved over BENCH_ROUNDS rounds:
//   - `sluice run` (default settings), until every key is acknowledged
//     (lib/catchUp.ts);
//   - with BENCH_BASELINE_ROOT=/path, the same from another built checkout
//     (before/after in one run);
//   - the bare zongji worker that decodes the same tables and counts rows.
// CPU per transaction = CPU time of all threads of the reader over its span
// ÷ transactions. Reading a backlog, Sluice sends large batches: this
// isolates the per-event and per-commit costs (decoding, mapping,
// boundaries) from the per-round-trip ones the live scenario adds.
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { reusableRange, runSluice, runWorker, type Range, type Run } from '../lib/catchUp.js';
import {
  adminConnection,
  benchRedis,
  rangeSince,
  freshBinlog,
  randomServerId,
  resetBenchRedis,
  servicesUp,
  WORK_DIR,
} from '../lib/env.js';
import { progress, runScenario } from '../lib/result.js';
import { median } from '../lib/stats.js';
import {
  describeSysbench,
  ensureSysbench,
  runSysbench,
  sysbenchRules,
  sysbenchVersion,
  type SysbenchShape,
} from '../lib/sysbench.js';

const NAME = 'smallTransactions';
const TABLES = 4;
const EVENTS = Number(process.env.BENCH_SMALLTX_EVENTS ?? 20_000);
const SHAPE: SysbenchShape = { tables: TABLES, tableSize: 10_000, threads: 4, events: EVENTS };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASELINE = process.env.BENCH_BASELINE_ROOT;
const RANGE_FILE = join(WORK_DIR, 'smalltx-range.json');
const TABLE_NAMES = Array.from({ length: TABLES }, (_, i) => `sbtest${i + 1}`);
const RULES = sysbenchRules(TABLES);
const log = (text: string): void => progress(NAME, text);

interface TxRange extends Range {
  readonly transactions: number;
}

async function buildRange(conn: Connection): Promise<TxRange> {
  log(`sysbench prepare (${TABLES} tables × ${SHAPE.tableSize} rows)`);
  await conn.query('CREATE DATABASE IF NOT EXISTS sbtest');
  await runSysbench('cleanup', SHAPE);
  await runSysbench('prepare', SHAPE);
  const started = Date.now();
  const start = await freshBinlog(conn);
  log(`sysbench run: ${EVENTS} transactions`);
  const out = await runSysbench('run', SHAPE);
  const transactions = Number(/transactions:\s+(\d+)/.exec(out)?.[1] ?? Number.NaN);
  return {
    ...(await rangeSince(conn, start)),
    transactions,
    buildSeconds: (Date.now() - started) / 1000,
  };
}

/** BENCH_REUSE_RANGE=1 reuses the last range if it still ends at the binlog's head. */
async function range(conn: Connection): Promise<TxRange> {
  return reusableRange(
    conn,
    RANGE_FILE,
    () => buildRange(conn),
    (r) => r.transactions === EVENTS,
  );
}

runScenario(NAME, async () => {
  servicesUp();
  await resetBenchRedis();
  ensureSysbench(log);
  const conn = await adminConnection();
  const redis = benchRedis();
  try {
    const r = await range(conn);
    const tx = r.transactions;
    log(`range ${r.file}:${r.from}..${r.to}: ${tx} transactions`);
    const arms: Array<{ name: string; run: () => Promise<Run> }> = [
      {
        name: 'bare zongji',
        run: () =>
          runWorker('zongjiCount.ts', [
            r.file,
            String(r.from),
            String(r.to),
            String(randomServerId()),
            'sbtest',
            TABLE_NAMES.join(','),
          ]),
      },
      {
        name: 'Sluice',
        run: () =>
          runSluice(r, redis, {
            name: 'bench-smalltx',
            channel: 'sluice:bench:smalltx',
            rules: RULES,
          }),
      },
    ];
    if (BASELINE !== undefined) {
      arms.push({
        name: 'Sluice baseline',
        run: () =>
          runSluice(r, redis, {
            name: 'bench-smalltx-base',
            channel: 'sluice:bench:smalltx-base',
            rules: RULES,
            root: BASELINE,
          }),
      });
    }
    const runs = new Map<string, Run[]>(arms.map((a) => [a.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}/${ROUNDS}`);
      // Rotate the order each round: no arm always runs first (or last).
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(i + round - 1) % arms.length] as (typeof arms)[number];
        const run = await arm.run();
        (runs.get(arm.name) as Run[]).push(run);
      }
    }
    const zongji = runs.get('bare zongji') as Run[];
    const rowsSeen = zongji[0]?.rows ?? 0;
    for (const [name, rs] of runs) {
      for (const x of rs) {
        if (x.rows !== rowsSeen)
          throw new Error(`${name} saw ${x.rows} rows, bare zongji ${rowsSeen}`);
      }
    }
    const usPerTx = (x: Run): number => ((x.cpuMs ?? Number.NaN) * 1000) / tx;
    const perRound = (name: string): number[] =>
      (runs.get(name) as Run[]).map((x, i) => usPerTx(x) / usPerTx(zongji[i] as Run));
    const sluiceRatio = median(perRound('Sluice'));
    const baselineRatio = BASELINE === undefined ? null : median(perRound('Sluice baseline'));
    const med = (name: string): number => median((runs.get(name) as Run[]).map(usPerTx));
    const table = [
      `| round | ${arms.map((a) => `${a.name}: CPU µs/tx (span)`).join(' | ')} | Sluice ÷ zongji${BASELINE === undefined ? '' : ' | baseline ÷ zongji'} |`,
      `|---|${arms.map(() => '---').join('|')}|---|${BASELINE === undefined ? '' : '---|'}`,
      ...Array.from({ length: ROUNDS }, (_, i) => {
        const cells = arms.map((a) => {
          const x = (runs.get(a.name) as Run[])[i] as Run;
          return `${usPerTx(x).toFixed(1)} (${x.seconds.toFixed(2)} s)`;
        });
        const ratios = [perRound('Sluice')[i] as number];
        if (BASELINE !== undefined) ratios.push(perRound('Sluice baseline')[i] as number);
        return `| ${i + 1} | ${cells.join(' | ')} | ${ratios.map((v) => `${v.toFixed(2)}×`).join(' | ')} |`;
      }),
    ];
    return {
      rows: [
        {
          scenario: `small transactions (${tx.toLocaleString('en')} sysbench oltp_write_only transactions, read from a fixed range)`,
          metric: 'CPU time (all threads) per transaction, reading the range to its end',
          sluice: `${med('Sluice').toFixed(1)} µs`,
          compared:
            `bare zongji ${med('bare zongji').toFixed(1)} µs → **${sluiceRatio.toFixed(2)}×**` +
            (baselineRatio === null
              ? ''
              : `; baseline ${med('Sluice baseline').toFixed(1)} µs (${baselineRatio.toFixed(2)}×)`),
          target: '≤ 1 × bare zongji',
          met: sluiceRatio <= 1,
        },
      ],
      details: [
        `${sysbenchVersion()}: \`${describeSysbench('run', SHAPE)}\` → ${tx} transactions (each: 2 UPDATEs, 1 DELETE, 1 INSERT; ${rowsSeen} row images) in \`${r.file}:${r.from}..${r.to}\` (${((r.to - r.from) / 1e6).toFixed(1)} MB, built in ${r.buildSeconds.toFixed(1)} s). ` +
          `Rules: ${TABLES} tables, \`sbtestN:{id}\` and \`sbtestN:k:{k}\`.` +
          (BASELINE === undefined ? '' : ` Baseline: the build in \`${BASELINE}\`.`),
        `Each reader reads the whole range, one at a time, over ${ROUNDS} rounds (the order rotates each round); ratios are per round, then the median. ` +
          "CPU = the scheduler's accounting for Sluice (all threads), getrusage for the worker, over the reader's timed span (Sluice: `binlog connecting` to the publish of its last batch).",
        table.join('\n'),
      ],
    };
  } finally {
    await conn.end();
    redis.disconnect();
  }
});
