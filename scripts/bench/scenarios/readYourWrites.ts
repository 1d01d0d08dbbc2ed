// Scenario (e): read your own writes (`X-Sluice-After`, issue 14).
//
// `sluice run` and `sluice serve` on one config: the same `source.name`,
// since a fence is compared with that source's watermark; `api.fenceWaitMs`
// at its default (1000 ms).
//   (a) the price of a fence the watermark has already passed: GET
//       /v1/items/:id (every id an L1 hit) with `X-Sluice-After: <token>` of
//       a commit the watermark has passed, against the same route with a
//       header serve ignores (same bytes): autocannon in short alternating
//       runs (ABBA pairs), serve's CPU per request over alternating blocks
//       of sequential requests, and sequential latency. serve's own counters check that every fenced
//       request passed at once and that L1 answered.
//   (b) the wait right after a write: on one mysql2 connection, UPDATE one
//       row (cached in serve's L1 beforehand), `fenceToken(conn)`, then GET
//       it with the token, N times. GET latency, X-Cache (`fenced` = the wait
//       timed out and the database answered), answers with the old value.
//       Control arm, interleaved: the same sequence (token query included,
//       so the timing is the same) without the header.
import { performance } from 'node:perf_hooks';
import autocannon, { type Result } from 'autocannon';
import type { Connection } from 'mysql2/promise';
import { fenceToken } from '../../../src/index.js';
import { writeConfig } from '../lib/config.js';
import { adminConnection, httpPort, resetBenchRedis, servicesUp } from '../lib/env.js';
import { httpClient, waitReady, type HttpAnswer } from '../lib/http.js';
import { schedCpuMs, startSluice, type Proc } from '../lib/procs.js';
import { progress, runScenario } from '../lib/result.js';
import { distribution, median, pcts, rate, type Distribution } from '../lib/stats.js';
import { createItems } from '../lib/tables.js';

const NAME = 'readYourWrites';
const WRITES = Number(process.env.BENCH_RYW_WRITES ?? 500);
const IDS = Math.max(1000, 2 * WRITES);
const TABLE = 'ryw_items';
const CONNECTIONS = 10;
const SECONDS = Number(process.env.BENCH_RYW_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_RYW_ROUNDS ?? 16);
const SEQUENTIAL = 2000;
const LISTEN = `127.0.0.1:${httpPort(5)}`;
const BASE = `http://${LISTEN}`;
const HEADER = 'x-sluice-after';
/**
 * The unfenced arm sends a header of the same length that serve ignores:
 * both arms put the same bytes on the wire and cost the client the same,
 * so the difference is serve's handling of the fence alone.
 */
const PAD_HEADER = 'x-sluice-other';
const CPU_BLOCKS = 200;
const CPU_BLOCK = 200;
const log = (text: string): void => progress(NAME, text);

interface Counters {
  readonly l1Hits: number;
  readonly l1Misses: number;
  readonly passed: number;
  readonly waited: number;
  readonly database: number;
}

/** serve's own counters (its /metrics). */
async function counters(): Promise<Counters> {
  const text = await fetch(`${BASE}/metrics`).then((r) => r.text());
  const read = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  return {
    l1Hits: read(/^sluice_cache_hits_total\{level="l1"\} (\d+)/m),
    l1Misses: read(/^sluice_cache_misses_total\{level="l1"\} (\d+)/m),
    passed: read(/^sluice_cache_fenced_reads_total\{outcome="passed"\} (\d+)/m),
    waited: read(/^sluice_cache_fenced_reads_total\{outcome="waited"\} (\d+)/m),
    database: read(/^sluice_cache_fenced_reads_total\{outcome="database"\} (\d+)/m),
  };
}

function delta(a: Counters, b: Counters): Counters {
  return {
    l1Hits: b.l1Hits - a.l1Hits,
    l1Misses: b.l1Misses - a.l1Misses,
    passed: b.passed - a.passed,
    waited: b.waited - a.waited,
    database: b.database - a.database,
  };
}

/** autocannon with `connections` connections, every request with `headers`, ids rotating. */
async function load(
  headers: Record<string, string>,
  seconds: number,
  connections: number,
): Promise<Result> {
  let next = 0;
  return autocannon({
    url: BASE,
    connections,
    pipelining: 1,
    duration: seconds,
    headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: `/v1/items/${(next++ % IDS) + 1}` }),
      },
    ],
  });
}

/**
 * One arm: a short autocannon run (no separate warm-up: serve is warm and
 * connections open in microseconds) and serve's counters over it. The arms
 * alternate in short runs (ABBA) so that each pair sees nearly the same
 * machine. (Both arms at once would hide the difference: serve answers
 * every ready connection in each event-loop turn, so with closed-loop
 * clients both arms get the same rate whatever a request costs.)
 */
async function measure(
  headers: Record<string, string>,
): Promise<{ result: Result; counted: Counters }> {
  const before = await counters();
  const result = await load(headers, SECONDS, CONNECTIONS);
  const counted = delta(before, await counters());
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(
      `${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`,
    );
  }
  return { result, counted };
}

/** Reads `ids` until serve answers each from L1; returns each body's score. */
async function warm(
  client: ReturnType<typeof httpClient>,
  ids: Iterable<number>,
): Promise<Map<number, number>> {
  const scores = new Map<number, number>();
  for (const id of ids) {
    for (let i = 0; ; i++) {
      const r = await client.get(`/v1/items/${id}`);
      if (r.status !== 200) throw new Error(`GET /v1/items/${id}: ${r.status} ${r.body}`);
      if (r.xCache === 'l1') {
        scores.set(id, scoreOf(r));
        break;
      }
      if (i > 20) throw new Error(`/v1/items/${id} never answered from L1`);
    }
  }
  return scores;
}

function scoreOf(r: HttpAnswer): number {
  return (JSON.parse(r.body) as { score: number }).score;
}

function* ids(from: number, to: number): Generator<number> {
  for (let id = from; id <= to; id++) yield id;
}

interface WriteRead {
  readonly update: number[];
  readonly token: number[];
  readonly get: number[];
  readonly xCache: Map<string, number>;
  stale: number;
}

const newArm = (): WriteRead => ({
  update: [],
  token: [],
  get: [],
  xCache: new Map(),
  stale: 0,
});

/** UPDATE one cached row, fenceToken, GET (with the token when `fenced`); records into `arm`. */
async function writeThenRead(
  conn: Connection,
  client: ReturnType<typeof httpClient>,
  id: number,
  oldScore: number,
  fenced: boolean,
  arm: WriteRead,
): Promise<void> {
  const t0 = performance.now();
  await conn.query(`UPDATE ${TABLE} SET score = score + 1 WHERE id = ?`, [id]);
  const t1 = performance.now();
  const token = await fenceToken(conn);
  const t2 = performance.now();
  if (token === '') throw new Error('fenceToken returned nothing (binlog off?)');
  const r = await client.get(`/v1/items/${id}`, fenced ? { [HEADER]: token } : {});
  const t3 = performance.now();
  if (r.status !== 200) throw new Error(`GET /v1/items/${id}: ${r.status} ${r.body}`);
  const score = scoreOf(r);
  if (score === oldScore) arm.stale++;
  else if (score !== oldScore + 1) throw new Error(`id ${id}: score ${score}, was ${oldScore}`);
  arm.update.push(t1 - t0);
  arm.token.push(t2 - t1);
  arm.get.push(t3 - t2);
  const x = r.xCache ?? 'none';
  arm.xCache.set(x, (arm.xCache.get(x) ?? 0) + 1);
}

function shares(arm: WriteRead): string {
  return [...arm.xCache]
    .sort((a, b) => b[1] - a[1])
    .map(([x, n]) => `${x} ${((100 * n) / arm.get.length).toFixed(1)} %`)
    .join(', ');
}

runScenario(NAME, async () => {
  servicesUp();
  await resetBenchRedis();
  const conn = await adminConnection();
  const procs: Proc[] = [];
  const client = httpClient(BASE);
  try {
    await createItems(conn, TABLE, IDS);
    const config = writeConfig({
      name: 'bench-ryw',
      startFrom: 'end',
      channel: 'sluice:bench:ryw',
      listen: LISTEN,
      rules: [{ table: `bench.${TABLE}`, keys: ['ryw:{id}'] }],
      resources: { items: { table: `bench.${TABLE}`, key: 'ryw:{id}' } },
    });
    const daemon = startSluice('run', config);
    procs.push(daemon);
    await daemon.waitFor((l) => l.msg === 'binlog streaming');
    const serve = startSluice('serve', config);
    procs.push(serve);
    await waitReady(BASE, true);
    const bad = await client.get('/v1/items/1', { [HEADER]: 'not a token' });
    if (bad.status !== 400 || !bad.body.includes('E_FENCE_TOKEN_INVALID')) {
      throw new Error(`this serve does not fence reads (bad token: ${bad.status} ${bad.body})`);
    }

    // (a) A token the watermark has passed: a commit, then a fenced read of
    // it until it is answered through the cache.
    await conn.query(`UPDATE ${TABLE} SET score = score + 1 WHERE id = 1`);
    const token = await fenceToken(conn);
    for (let i = 0; ; i++) {
      const r = await client.get('/v1/items/1', { [HEADER]: token });
      if (r.status === 200 && r.xCache !== 'fenced') break;
      if (i > 10) throw new Error(`token ${token} never passed (${r.status} ${r.xCache ?? ''})`);
    }
    log(`token ${token} passed; warming ${IDS} ids into L1`);
    await warm(client, ids(1, IDS));
    const fencedHeaders = { [HEADER]: token };
    const plainHeaders = { [PAD_HEADER]: token };

    log('sequential latency (one connection, fenced and unfenced alternating)');
    const seqTimes = { plain: [] as number[], fenced: [] as number[] };
    for (let i = 0; i < 2 * (SEQUENTIAL + 200); i++) {
      const fenced = i % 2 === 1;
      const t = performance.now();
      const r = await client.get(
        `/v1/items/${(i % IDS) + 1}`,
        fenced ? fencedHeaders : plainHeaders,
      );
      const dt = performance.now() - t;
      if (r.status !== 200 || r.xCache !== 'l1') {
        throw new Error(`sequential: expected 200 l1, got ${r.status} ${r.xCache ?? ''}`);
      }
      if (i >= 400) (fenced ? seqTimes.fenced : seqTimes.plain).push(dt);
    }
    const seq = { plain: distribution(seqTimes.plain), fenced: distribution(seqTimes.fenced) };

    // serve's CPU per sequential request, in blocks (ABAB…): no autocannon
    // competing for the cores, so this moves least with the machine's load.
    log(`serve CPU per request: ${CPU_BLOCKS} blocks of ${CPU_BLOCK} sequential requests`);
    const seqCpu = { plain: [] as number[], fenced: [] as number[] };
    for (let b = 0; b < CPU_BLOCKS; b++) {
      const fenced = b % 2 === 1;
      const cpu0 = schedCpuMs(serve.pid);
      for (let i = 0; i < CPU_BLOCK; i++) {
        await client.get(`/v1/items/${(i % IDS) + 1}`, fenced ? fencedHeaders : plainHeaders);
      }
      (fenced ? seqCpu.fenced : seqCpu.plain).push(
        ((schedCpuMs(serve.pid) - cpu0) * 1000) / CPU_BLOCK,
      );
    }

    const runs = { plain: [] as Result[], fenced: [] as Result[] };
    const checks: string[] = [];
    log(
      `autocannon: ${ROUNDS} pairs of ${SECONDS} s runs, arms alternating (ABBA), ${CONNECTIONS} connections`,
    );
    await load(fencedHeaders, 1, CONNECTIONS); // warm-up (JIT of both paths, connections)
    await load(plainHeaders, 1, CONNECTIONS);
    for (let round = 1; round <= ROUNDS; round++) {
      // L1 entries live 60 s and the run is longer: refill before each pair.
      await warm(client, ids(1, IDS));
      const order =
        round % 2 === 1 ? (['plain', 'fenced'] as const) : (['fenced', 'plain'] as const);
      for (const arm of order) {
        const { result, counted } = await measure(arm === 'fenced' ? fencedHeaders : plainHeaders);
        runs[arm].push(result);
        const reads = counted.l1Hits + counted.l1Misses;
        if (
          arm === 'fenced' &&
          (counted.waited > 0 || counted.database > 0 || counted.passed < reads)
        ) {
          throw new Error(
            `round ${round}: ${JSON.stringify(counted)} (every read should pass at once)`,
          );
        }
        checks.push(
          `${((counted.l1Hits / reads) * 100).toFixed(2)} % L1` +
            (arm === 'fenced' ? ` (${counted.passed} fenced, passed at once)` : ''),
        );
      }
    }
    const rps = (rs: Result[]): number => median(rs.map((r) => r.requests.average));
    const p99 = (rs: Result[]): number => median(rs.map((r) => r.latency.p99));
    const ratios = runs.fenced.map(
      (r, i) => r.requests.average / (runs.plain[i] as Result).requests.average,
    );
    const fenceRatio = median(ratios);
    /** Per pair of blocks: unfenced CPU per request ÷ fenced (1 = the fence costs nothing). */
    const seqCpuRatio = median(seqCpu.plain.map((u, i) => u / (seqCpu.fenced[i] as number)));

    // (b) Write, token, read at once.
    log(
      `${WRITES} × (UPDATE, fenceToken, GET with the token), interleaved with ${WRITES} without it`,
    );
    const before = await counters();
    const arms = { fenced: newArm(), plain: newArm() };
    for (let i = 0; i < WRITES; i++) {
      const a = i + 1;
      const b = WRITES + i + 1;
      const scores = await warm(client, [a, b]);
      const first = i % 2 === 0;
      await writeThenRead(
        conn,
        client,
        first ? a : b,
        scores.get(first ? a : b) ?? 0,
        first,
        first ? arms.fenced : arms.plain,
      );
      await writeThenRead(
        conn,
        client,
        first ? b : a,
        scores.get(first ? b : a) ?? 0,
        !first,
        first ? arms.plain : arms.fenced,
      );
    }
    const fencedCount = delta(before, await counters());
    const getD = distribution(arms.fenced.get);
    const plainD = distribution(arms.plain.get);
    const fencedAnswers = arms.fenced.xCache.get('fenced') ?? 0;
    const through = WRITES - fencedAnswers;
    const row = (d: Distribution): string => `${pcts(d)} ms`;
    return {
      rows: [
        {
          scenario: 'read your own writes: fence already passed',
          metric: `requests/s and p99 of L1 hits with \`X-Sluice-After\` (autocannon, ${CONNECTIONS} connections); serve CPU per sequential request`,
          sluice: `${rate(rps(runs.fenced), ' req/s')}, p99 ${p99(runs.fenced)} ms; ${median(seqCpu.fenced).toFixed(0)} µs CPU/request; sequential p50/p99 ${seq.fenced.p50.toFixed(3)} / ${seq.fenced.p99.toFixed(3)} ms`,
          compared: `the same route without it: ${rate(rps(runs.plain), ' req/s')}, p99 ${p99(runs.plain)} ms; ${median(seqCpu.plain).toFixed(0)} µs CPU/request; sequential ${seq.plain.p50.toFixed(3)} / ${seq.plain.p99.toFixed(3)} ms → **${fenceRatio.toFixed(2)}×** req/s; CPU per request unfenced ÷ fenced **${seqCpuRatio.toFixed(2)}×** (medians of per-round / per-block-pair ratios)`,
          target: '≥ 0.95 × unfenced',
          met: fenceRatio >= 0.95,
        },
        {
          scenario: `read your own writes: read right after a write (${WRITES} UPDATEs)`,
          metric:
            'UPDATE → `fenceToken(conn)` → GET with the token: GET p50/p90/p99/max; answered through the cache / `X-Cache: fenced`; old value',
          sluice: `${row(getD)}; ${((100 * through) / WRITES).toFixed(1)} % through the cache (watermark already past: ${fencedCount.passed}, waited: ${fencedCount.waited}), ${((100 * fencedAnswers) / WRITES).toFixed(1)} % fenced; old value ${arms.fenced.stale} of ${WRITES}`,
          compared: `the same without the header: GET ${row(plainD)}; old value ${arms.plain.stale} of ${WRITES}`,
          target: 'no old value',
          met: arms.fenced.stale === 0,
        },
      ],
      details: [
        `\`sluice run\` and \`sluice serve\` on one config (same \`source.name\`, the source whose watermark fences reads; \`api.fenceWaitMs\` default 1000 ms), ` +
          `table \`bench.${TABLE}\` (${IDS} rows, key \`ryw:{id}\`), resource \`items\`.`,
        `(a) Fence already passed: the token of a commit (\`fenceToken\` after an UPDATE: \`${token}\`) once a fenced read of it was answered through the cache; ids 1..${IDS} in rotation, every answer an L1 hit. ` +
          `The unfenced arm sends \`${PAD_HEADER}: <the same token>\` instead (serve ignores it), so both arms send the same bytes and cost the client the same. ` +
          `autocannon: ${ROUNDS} pairs of ${SECONDS} s runs with ${CONNECTIONS} connections, pipelining 1, the arms alternating (ABBA; L1 refilled before each pair), after a 1 s warm-up of each; ` +
          'the ratio is per pair, then the median. ' +
          `serve's counters per run (share of reads L1 answered; fenced reads, all passed at once: none waited or went to the database): ${checks.join('; ')}. ` +
          `Sequential: ${SEQUENTIAL} requests each, fenced and unfenced alternating on one keep-alive connection. ` +
          `serve's CPU per request (all threads, schedstat), ${CPU_BLOCKS} alternating blocks of ${CPU_BLOCK} sequential requests (no autocannon competing for the cores): ` +
          `unfenced ${seqCpu.plain.map((u) => u.toFixed(0)).join(', ')} µs; fenced ${seqCpu.fenced.map((u) => u.toFixed(0)).join(', ')} µs.`,
        '| arm | req/s (each round) | p50 | p99 (autocannon, whole ms) | sequential p50 | sequential p99 |\n|---|---|---|---|---|---|\n' +
          (
            [
              ['without `X-Sluice-After`', runs.plain, seq.plain],
              ['`X-Sluice-After: <passed token>`', runs.fenced, seq.fenced],
            ] as const
          )
            .map(
              ([name, rs, d]) =>
                `| ${name} | ${rs.map((r) => rate(r.requests.average, '')).join(', ')} | ${median(rs.map((r) => r.latency.p50))} ms | ${median(rs.map((r) => r.latency.p99))} ms | ${d.p50.toFixed(3)} ms | ${d.p99.toFixed(3)} ms |`,
            )
            .join('\n') +
          `\n\nFenced ÷ unfenced req/s per pair: ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}.`,
        `(b) Read right after a write: ${WRITES} times, on one mysql2 connection (autocommit), \`UPDATE ${TABLE} SET score = score + 1 WHERE id = ?\` on a row serve holds in L1, ` +
          '`fenceToken(conn)` (MariaDB `SELECT @@last_gtid`), then `GET /v1/items/{id}` with `X-Sluice-After: <token>` over one keep-alive connection. ' +
          `Interleaved with ${WRITES} of the same sequence on other rows without the header (the token is still fetched, so the GET leaves at the same moment). ` +
          '"Old value" = the answer still has the score from before the UPDATE.',
        '| step | p50 / p90 / p99 / max |\n|---|---|\n' +
          [
            ['UPDATE (autocommit) round trip', distribution(arms.fenced.update)],
            ['`fenceToken(conn)` round trip', distribution(arms.fenced.token)],
            ['GET with the token', getD],
            ['GET without the header (control)', plainD],
          ]
            .map(([name, d]) => `| ${name as string} | ${pcts(d as Distribution)} ms |`)
            .join('\n') +
          `\n\nX-Cache with the token: ${shares(arms.fenced)} (serve's fenced-read counter: passed at once ${fencedCount.passed}, passed after a wait ${fencedCount.waited}, database after ${'`api.fenceWaitMs`'} ${fencedCount.database}); ` +
          `without: ${shares(arms.plain)}. Old value with the token: ${arms.fenced.stale} of ${WRITES}; without: ${arms.plain.stale} of ${WRITES}.`,
      ],
    };
  } finally {
    client.close();
    for (const p of procs.reverse()) await p.stop();
    await conn.end();
  }
});
