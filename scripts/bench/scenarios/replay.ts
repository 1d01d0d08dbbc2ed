// Scenario (a): replay throughput and daemon memory.
//
// Builds a binlog range of 300,000 row images on the bench MariaDB (200
// INSERTs of 1,000 rows, then one UPDATE of 100,000 rows) in a fresh binlog
// file, then reads exactly that range with:
//   - Sluice end-to-end: the compiled `sluice run` with startFrom FILE:POS;
//     timed from its "binlog connecting" log line to the moment its stored
//     checkpoint (written only after Redis acknowledged every key before it)
//     reaches the range end;
//   - a bare zongji listener that only counts rows (workers/zongjiCount.ts);
//   - `mariadb-binlog --read-from-remote-server -v` (rows counted by grep);
//   - a naive sink of single-key UNLINKs (workers/naiveSink.ts).
// Each is run BENCH_ROUNDS times (default 3), interleaved, and the median is
// reported; ratios are taken within a round.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';
import {
  reusableRange,
  runSluice as runSluiceOver,
  runWorker,
  type Range,
  type Run,
} from '../lib/catchUp.js';
import {
  adminConnection,
  bench,
  benchRedis,
  resetBenchRedis,
  rangeSince,
  freshBinlog,
  randomServerId,
  servicesUp,
  WORK_DIR,
} from '../lib/env.js';
import { progress, runScenario } from '../lib/result.js';
import { mb, median, rate, ratio } from '../lib/stats.js';
import { createItemsTable, idRange, insertItems } from '../lib/tables.js';

const NAME = 'replay';
const INSERTS = 200;
const ROWS_PER_INSERT = 1000;
const UPDATE_ROWS = 100_000;
const EXPECTED_ROWS = INSERTS * ROWS_PER_INSERT + UPDATE_ROWS;
const TABLE = 'bench.items';
/** One key per row (the usual cache-by-primary-key); BENCH_REPLAY_TEMPLATES="a b" to change. */
const TEMPLATES = (process.env.BENCH_REPLAY_TEMPLATES ?? 'item:{id}').split(' ');
/** The sensitivity run: two keys per row (by id and by a unique column). */
const TWO_KEYS = ['item:{id}', 'item:email:{email}'];
const SOURCE_NAME = 'bench-replay';
const CHANNEL = 'sluice:bench:replay';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RANGE_FILE = join(WORK_DIR, 'replay-range.json');
/** BENCH_REPLAY_QUICK=1: only Sluice vs bare zongji, for iterating on the daemon. */
const QUICK = process.env.BENCH_REPLAY_QUICK === '1';

const log = (text: string): void => progress(NAME, text);

async function buildRange(conn: Connection): Promise<Range> {
  const started = Date.now();
  await createItemsTable(conn, 'items');
  const start = await freshBinlog(conn);
  for (let i = 0; i < INSERTS; i++) {
    await conn.query(
      insertItems('items', idRange(i * ROWS_PER_INSERT + 1, (i + 1) * ROWS_PER_INSERT)),
    );
  }
  await conn.query(
    `UPDATE items SET score = score + 1, updated_at = NOW(3) WHERE id <= ${UPDATE_ROWS}`,
  );
  return {
    ...(await rangeSince(conn, start)),
    buildSeconds: (Date.now() - started) / 1000,
  };
}

/**
 * Reuses the last range with BENCH_REUSE_RANGE=1 (while iterating on the
 * daemon) if it still ends at the binlog's head: events after the range
 * would keep the daemon busy while its last checkpoint is due.
 */
async function range(conn: Connection): Promise<Range> {
  return reusableRange(conn, RANGE_FILE, () => buildRange(conn));
}

function runSluice(r: Range, redis: Redis, templates: readonly string[] = TEMPLATES): Promise<Run> {
  return runSluiceOver(r, redis, {
    name: SOURCE_NAME,
    channel: CHANNEL,
    rules: [{ table: TABLE, keys: templates }],
  });
}

function runMariadbBinlog(r: Range): Promise<Run> {
  const cmd =
    'set -o pipefail; mariadb-binlog --no-defaults --read-from-remote-server --host=127.0.0.1 ' +
    `--port=${bench.mariadbPort} --user=${bench.source.user} --base64-output=decode-rows -v ` +
    `--start-position=${r.from} --stop-position=${r.to} ${r.file} ` +
    "| grep -cE '^### (INSERT INTO|UPDATE|DELETE FROM) '";
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('bash', ['-c', cmd], {
      env: { ...process.env, MYSQL_PWD: bench.source.password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`mariadb-binlog exited with ${code}: ${err}`));
      else resolve({ rows: Number(out.trim()), seconds });
    });
  });
}

function check(what: string, run: Run): Run {
  if (run.rows !== EXPECTED_ROWS)
    throw new Error(`${what} saw ${run.rows} rows, expected ${EXPECTED_ROWS}`);
  return run;
}

runScenario(NAME, async () => {
  servicesUp();
  await resetBenchRedis();
  const conn = await adminConnection();
  const redis = benchRedis();
  try {
    log('building the binlog range (200 × INSERT of 1,000 rows, UPDATE of 100,000 rows)');
    const r = await range(conn);
    log(`range ${r.file}:${r.from}..${r.to} (${((r.to - r.from) / 1e6).toFixed(1)} MB of binlog)`);
    // Warm the server's binlog file cache once, outside the timings.
    await runMariadbBinlog(r);

    const runs = { sluice: [] as Run[], zongji: [] as Run[], naive: [] as Run[], cli: [] as Run[] };
    const workerArgs = (): string[] => [
      r.file,
      String(r.from),
      String(r.to),
      String(randomServerId()),
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}/${ROUNDS}`);
      runs.zongji.push(
        check('zongji', await runWorker('zongjiCount.ts', [...workerArgs(), 'bench', 'items'])),
      );
      runs.sluice.push(check('sluice', await runSluice(r, redis)));
      if (QUICK) continue;
      runs.naive.push(
        check('naive', await runWorker('naiveSink.ts', [...workerArgs(), TABLE, ...TEMPLATES])),
      );
      runs.cli.push(check('mariadb-binlog', await runMariadbBinlog(r)));
    }
    if (QUICK) {
      const line = (x: Run, i: number): string => {
        const zz = runs.zongji[i] as Run;
        return `sluice ${rate(x.rows / x.seconds)} zongji ${rate(zz.rows / zz.seconds)} ratio ${ratio(x.rows / x.seconds, zz.rows / zz.seconds)} rss ${mb(x.rssPeak ?? 0)} batches ${x.batches} redis ${(((x.redisCpuMs ?? 0) / 1000 / x.seconds) * 100).toFixed(0)}% mariadb ${(((x.mariadbCpuMs ?? 0) / 1000 / x.seconds) * 100).toFixed(0)}% cpu/row ${(((x.cpuMs ?? 0) * 1000) / x.rows).toFixed(2)}µs vs ${(((zz.cpuMs ?? 0) * 1000) / zz.rows).toFixed(2)}µs`;
      };
      return { rows: [], details: runs.sluice.map(line) };
    }
    log('sensitivity: Sluice with two keys per row');
    const twoKeys = check('sluice (2 keys/row)', await runSluice(r, redis, TWO_KEYS));

    const rps = (rs: readonly Run[]): number[] => rs.map((x) => x.rows / x.seconds);
    const s = median(rps(runs.sluice));
    const z = median(rps(runs.zongji));
    const n = median(rps(runs.naive));
    const c = median(rps(runs.cli));
    const perRound = (a: readonly Run[]): number[] =>
      a.map(
        (x, i) =>
          x.rows / x.seconds / ((runs.zongji[i] as Run).rows / (runs.zongji[i] as Run).seconds),
      );
    const sluiceRatio = median(perRound(runs.sluice));
    const naiveRatio = median(perRound(runs.naive));
    const rss = Math.max(...runs.sluice.map((x) => x.rssPeak ?? 0));
    const first = runs.sluice[0] as Run;

    const perRow = (x: Run): string => (((x.cpuMs ?? Number.NaN) * 1000) / x.rows).toFixed(2);
    const table = [
      '| round | Sluice | bare zongji | Sluice ÷ zongji | naive single-key UNLINKs | naive ÷ zongji | mariadb-binlog -v | Sluice RSS peak | CPU per row: Sluice / zongji | Redis CPU during Sluice |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...runs.sluice.map((x, i) => {
        const zz = runs.zongji[i] as Run;
        const nn = runs.naive[i] as Run;
        const cc = runs.cli[i] as Run;
        return `| ${i + 1} | ${rate(x.rows / x.seconds)} (${x.seconds.toFixed(2)} s) | ${rate(zz.rows / zz.seconds)} (${zz.seconds.toFixed(2)} s) | ${ratio(x.rows / x.seconds, zz.rows / zz.seconds)} | ${rate(nn.rows / nn.seconds)} (${nn.seconds.toFixed(2)} s) | ${ratio(nn.rows / nn.seconds, zz.rows / zz.seconds)} | ${rate(cc.rows / cc.seconds)} (${cc.seconds.toFixed(2)} s) | ${mb(x.rssPeak ?? 0)} | ${perRow(x)} / ${perRow(zz)} µs | ${(((x.redisCpuMs ?? 0) / 10 / x.seconds) | 0).toString()} % |`;
      }),
    ];
    return {
      rows: [
        {
          scenario: 'replay throughput (300k row images)',
          metric: 'rows/s until every key is acknowledged',
          sluice: rate(s),
          compared: `bare zongji ${rate(z)} → **${sluiceRatio.toFixed(2)}×**; naive single-key UNLINKs ${rate(n)} (${naiveRatio.toFixed(2)}×); mariadb-binlog -v ${rate(c)}`,
          target: '≥ 0.7 × bare zongji',
          met: sluiceRatio >= 0.7,
        },
        {
          scenario: 'memory',
          metric: 'daemon RSS peak (VmHWM) during the replay',
          sluice: mb(rss),
          compared: `bare zongji ${mb(Math.max(...runs.zongji.map((x) => x.rssPeak ?? 0)))}; naive ${mb(Math.max(...runs.naive.map((x) => x.rssPeak ?? 0)))}`,
          target: '≤ 200 MB',
          met: rss <= 200 * 1024 * 1024,
        },
      ],
      details: [
        `Range: \`${r.file}:${r.from}..${r.to}\` (${((r.to - r.from) / 1e6).toFixed(1)} MB of binlog, built in ${r.buildSeconds.toFixed(1)} s): ` +
          `${INSERTS} INSERTs of ${ROWS_PER_INSERT} rows, then one UPDATE of ${UPDATE_ROWS.toLocaleString('en')} rows, table \`${TABLE}\` ` +
          `with rules \`${TEMPLATES.join('`, `')}\` (${first.keys ?? '?'} keys per run after de-duplication, ${first.batches ?? '?'} batches, each key UNLINKed with its lease key). ` +
          'The keys are absent from Redis (UNLINK of a missing key is what a replay mostly does).',
        'Sluice = the compiled `sluice run` (default batch settings) started at the range start; timed from its `binlog connecting` log line to the arrival, ' +
          "at a subscriber of its channel, of the message of the batch that carries the range's last boundary (Redis runs that PUBLISH after the UNLINKs of every " +
          'earlier key: one connection, pipeline order); the stored checkpoint is then checked to reach the range end too. ' +
          'bare zongji and the naive sink are timed from just before `zongji.start()` to their last XID / last acknowledged reply. ' +
          'mariadb-binlog is timed from spawn to exit of `mariadb-binlog --read-from-remote-server --base64-output=decode-rows -v | grep -c`. ' +
          `Medians of ${ROUNDS} interleaved rounds; ratios are per round, then the median. ` +
          "CPU per row = CPU time of all threads of the reading process over the timed span (the scheduler's own accounting for Sluice, getrusage for the workers; V8 GC helper threads included) ÷ rows; Redis CPU = the bench Redis over the Sluice span.",
        table.join('\n'),
        `Sensitivity, two keys per row (\`${TWO_KEYS.join('`, `')}\`: ${twoKeys.keys ?? '?'} keys, ${twoKeys.batches ?? '?'} batches): ` +
          `Sluice ${rate(twoKeys.rows / twoKeys.seconds)} = ${ratio(twoKeys.rows / twoKeys.seconds, z)} of the median bare zongji, RSS peak ${mb(twoKeys.rssPeak ?? 0)}.`,
      ],
    };
  } finally {
    await conn.end();
    redis.disconnect();
  }
});
