// Scenario (d): the read API.
//
// autocannon (10 connections, 5 s after a 1 s warm-up, ids 1..1000 in
// rotation) against:
//   - an L1 hit: `sluice serve` with the daemon running (its heartbeat makes
//     L1 usable); every id was read until it answered `X-Cache: l1`;
//   - an L2 hit: a second `sluice serve` on a channel no daemon publishes to:
//     without a fresh daemon heartbeat serve bypasses L1 by design (it could
//     not be invalidated), so every read is a Redis lease-get hit
//     (`X-Cache: l2`, checked) — the real binary, with L1 out of the path;
//   - a bare fastify route returning the same JSON text from a Map
//     (workers/bareFastify.ts).
// autocannon records latency in whole milliseconds, so each target is also
// read 2,000 times sequentially over one keep-alive connection for a precise
// unloaded latency.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon, { type Result } from 'autocannon';
import { writeConfig } from '../lib/config.js';
import { adminConnection, httpPort, resetBenchRedis, servicesUp, WORK_DIR } from '../lib/env.js';
import { httpClient, waitReady } from '../lib/http.js';
import { schedCpuMs, startSluice, startWorker, type Proc } from '../lib/procs.js';
import { progress, runScenario } from '../lib/result.js';
import { distribution, median, rate, type Distribution } from '../lib/stats.js';
import { createItems } from '../lib/tables.js';

const NAME = 'read-api';
const IDS = 1000;
const TABLE = 'api_items';
const CONNECTIONS = 10;
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 5);
const SEQUENTIAL = 2000;
const SEQUENTIAL_CPU = 1000;
const L1_LISTEN = `127.0.0.1:${httpPort(2)}`;
const L2_LISTEN = `127.0.0.1:${httpPort(3)}`;
const BARE_PORT = httpPort(4);
const log = (text: string): void => progress(NAME, text);

/** autocannon against `base`, ids rotating. */
async function load(base: string, seconds: number): Promise<Result> {
  let next = 0;
  return autocannon({
    url: base,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: `/v1/items/${(next++ % IDS) + 1}` }),
      },
    ],
  });
}

/**
 * CPU time of the server (all threads, schedstat) per request of each
 * measured run, in µs: what a request costs the server, which the shared
 * cores disturb far less than req/s.
 */
type CpuPerRequest = number[];

async function measure(base: string, pid: number, cpu: CpuPerRequest): Promise<Result> {
  await load(base, 1); // warm-up (JIT, connections)
  const cpu0 = schedCpuMs(pid);
  const r = await load(base, SECONDS);
  cpu.push(((schedCpuMs(pid) - cpu0) * 1000) / (r.requests.total ?? Number.NaN));
  if (r.errors > 0 || r.non2xx > 0 || r.timeouts > 0) {
    throw new Error(`${base}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
  }
  return r;
}

/** The L1 server's own counters (its /metrics): L1 hits, L1 misses, L1 resets. */
async function l1Counters(base: string): Promise<{ hits: number; misses: number; resets: number }> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text());
  const read = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    hits: read(/^sluice_cache_hits_total\{level="l1"\} (\d+)/m),
    misses: read(/^sluice_cache_misses_total\{level="l1"\} (\d+)/m),
    resets: read(/^sluice_cache_l1_resets_total (\d+)/m),
  };
}

/** Sequential GETs over one connection: latency without queueing, µs resolution. */
async function sequential(base: string, expect: string): Promise<Distribution> {
  const client = httpClient(base);
  const times: number[] = [];
  try {
    for (let i = 0; i < SEQUENTIAL + 200; i++) {
      const t = performance.now();
      const r = await client.get(`/v1/items/${(i % IDS) + 1}`);
      const dt = performance.now() - t;
      if (r.status !== 200 || r.xCache !== expect) {
        throw new Error(
          `${base}: expected 200 X-Cache ${expect}, got ${r.status} ${r.xCache ?? ''}`,
        );
      }
      if (i >= 200) times.push(dt);
    }
  } finally {
    client.close();
  }
  return distribution(times);
}

/**
 * The server's CPU time per request over SEQUENTIAL_CPU sequential requests
 * (one connection, nothing else hitting it): the per-request cost with no
 * batching effects of a loaded server, and no autocannon competing for the
 * cores.
 */
async function sequentialCpu(base: string, pid: number, expect: string): Promise<number> {
  const client = httpClient(base);
  try {
    const cpu0 = schedCpuMs(pid);
    for (let i = 0; i < SEQUENTIAL_CPU; i++) {
      const r = await client.get(`/v1/items/${(i % IDS) + 1}`);
      if (r.xCache !== expect) throw new Error(`${base}: X-Cache ${r.xCache ?? ''}, not ${expect}`);
    }
    return ((schedCpuMs(pid) - cpu0) * 1000) / SEQUENTIAL_CPU;
  } finally {
    client.close();
  }
}

/** Reads every id until the server answers from `level`; returns the bodies. */
async function warm(base: string, level: string): Promise<Record<string, string>> {
  const client = httpClient(base);
  const bodies: Record<string, string> = {};
  try {
    for (let id = 1; id <= IDS; id++) {
      for (let i = 0; ; i++) {
        const r = await client.get(`/v1/items/${id}`);
        if (r.status !== 200) throw new Error(`${base}/v1/items/${id}: ${r.status} ${r.body}`);
        if (r.xCache === level) {
          bodies[String(id)] = r.body;
          break;
        }
        if (i > 10) throw new Error(`${base}/v1/items/${id} never answered from ${level}`);
      }
    }
  } finally {
    client.close();
  }
  return bodies;
}

runScenario(NAME, async () => {
  servicesUp();
  await resetBenchRedis();
  const conn = await adminConnection();
  const procs: Proc[] = [];
  try {
    await createItems(conn, TABLE, IDS);
    const common = {
      startFrom: 'end',
      rules: [{ table: `bench.${TABLE}`, keys: ['api:{id}'] }],
      resources: { items: { table: `bench.${TABLE}`, key: 'api:{id}' } },
    };
    const withDaemon = writeConfig({
      ...common,
      name: 'bench-api',
      channel: 'sluice:bench:api',
      listen: L1_LISTEN,
    });
    const noDaemon = writeConfig({
      ...common,
      name: 'bench-api-l2',
      channel: 'sluice:bench:api-no-daemon',
      listen: L2_LISTEN,
    });
    const daemon = startSluice('run', withDaemon);
    procs.push(daemon);
    await daemon.waitFor((l) => l.msg === 'binlog streaming');
    const serveL1 = startSluice('serve', withDaemon, [], 'serve-l1');
    procs.push(serveL1);
    const serveL2 = startSluice('serve', noDaemon, [], 'serve-l2');
    procs.push(serveL2);
    const l1 = `http://${L1_LISTEN}`;
    const l2 = `http://${L2_LISTEN}`;
    await waitReady(l1, true);
    await waitReady(l2, false);
    log(
      `warming ${IDS} ids (L1 on :${L1_LISTEN.split(':')[1]}, L2 on :${L2_LISTEN.split(':')[1]})`,
    );
    const bodies = await warm(l1, 'l1');
    await warm(l2, 'l2');
    const file = join(WORK_DIR, 'api-bodies.json');
    writeFileSync(file, JSON.stringify(bodies));
    const bareWorker = startWorker('bareFastify.ts', [String(BARE_PORT), file]);
    procs.push(bareWorker);
    await bareWorker.waitFor((l) => l.ready === true);
    const bare = `http://127.0.0.1:${BARE_PORT}`;

    log('sequential latency (one connection)');
    const seq = {
      bare: await sequential(bare, 'l1'),
      l1: await sequential(l1, 'l1'),
      l2: await sequential(l2, 'l2'),
    };

    const runs = { bare: [] as Result[], l1: [] as Result[], l2: [] as Result[] };
    const cpu = { bare: [] as CpuPerRequest, l1: [] as CpuPerRequest, l2: [] as CpuPerRequest };
    const seqCpu = {
      bare: [] as CpuPerRequest,
      l1: [] as CpuPerRequest,
      l2: [] as CpuPerRequest,
    };
    const l1Share: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      log(
        `autocannon round ${round}/${ROUNDS}: bare, L1, L2 (${CONNECTIONS} connections, ${SECONDS} s each)`,
      );
      // L1 entries live 60 s (ttlMs) and the run is longer: refill any that
      // expired, then count the share of the round's reads L1 answered.
      await warm(l1, 'l1');
      seqCpu.bare.push(await sequentialCpu(bare, bareWorker.pid, 'l1'));
      seqCpu.l1.push(await sequentialCpu(l1, serveL1.pid, 'l1'));
      seqCpu.l2.push(await sequentialCpu(l2, serveL2.pid, 'l2'));
      runs.bare.push(await measure(bare, bareWorker.pid, cpu.bare));
      const before = await l1Counters(l1);
      runs.l1.push(await measure(l1, serveL1.pid, cpu.l1));
      const after = await l1Counters(l1);
      const hits = after.hits - before.hits;
      l1Share.push(hits / (hits + after.misses - before.misses));
      runs.l2.push(await measure(l2, serveL2.pid, cpu.l2));
    }
    const l1Resets = (await l1Counters(l1)).resets;
    // Still served from the level we claim?
    await sequential(l2, 'l2');

    const rps = (rs: Result[]): number => median(rs.map((r) => r.requests.average));
    const p99 = (rs: Result[]): number => median(rs.map((r) => r.latency.p99));
    const ratios = runs.l1.map(
      (r, i) => r.requests.average / (runs.bare[i] as Result).requests.average,
    );
    const l1Ratio = median(ratios);
    const fmt = (d: Distribution): string => `${d.p50.toFixed(3)} / ${d.p99.toFixed(3)} ms`;
    return {
      rows: [
        {
          scenario: 'read API: L1 hit',
          metric: `requests/s (autocannon, ${CONNECTIONS} connections), p99`,
          sluice: `${rate(rps(runs.l1), ' req/s')}, p99 ${p99(runs.l1)} ms; serve CPU ${median(cpu.l1).toFixed(0)} µs/request (sequential ${median(seqCpu.l1).toFixed(0)} µs)`,
          compared: `bare fastify route, same JSON: ${rate(rps(runs.bare), ' req/s')}, p99 ${p99(runs.bare)} ms, ${median(cpu.bare).toFixed(0)} µs/request (sequential ${median(seqCpu.bare).toFixed(0)} µs) → **${l1Ratio.toFixed(2)}×**`,
          target: '≥ 0.8 × bare route',
          met: l1Ratio >= 0.8,
        },
        {
          scenario: 'read API: L2 hit',
          metric: `p99 (autocannon, ${CONNECTIONS} connections; sequential p50 / p99)`,
          sluice: `p99 ${p99(runs.l2)} ms at ${rate(rps(runs.l2), ' req/s')}; sequential ${fmt(seq.l2)}; serve CPU ${median(cpu.l2).toFixed(0)} µs/request (sequential ${median(seqCpu.l2).toFixed(0)} µs)`,
          compared: `L1 hit sequential ${fmt(seq.l1)}; bare ${fmt(seq.bare)}`,
          target: 'p99 ≤ 2 ms',
          met: p99(runs.l2) <= 2,
        },
      ],
      details: [
        `Three servers, each its own process: \`sluice serve\` with the daemon running (L1 hits), \`sluice serve\` on a channel no daemon publishes to ` +
          '(it keeps L1 out of the path until a daemon heartbeat arrives, so every read is an L2 hit: one GET on Redis (the lease script runs only on a miss); `X-Cache: l2` checked before and after), ' +
          `and a bare fastify route returning the same JSON text from a Map. ids 1..${IDS} in rotation; autocannon ${CONNECTIONS} connections, pipelining 1, ` +
          `${SECONDS} s after a 1 s warm-up, ${ROUNDS} interleaved rounds (medians; the L1 ratio is per round). autocannon runs in the bench process, on the same 2 cores. ` +
          `Reads of the L1 rounds answered from L1 (the server's own hit and miss counters): ${l1Share.map((x) => `${(x * 100).toFixed(2)} %`).join(', ')}; ` +
          `L1 resets in that server during the run: ${l1Resets}. L1 entries live 60 s and the run is longer, so L1 is refilled before each L1 round. ` +
          `Server CPU per request = CPU time of all its threads (schedstat) ÷ requests, over each autocannon run and over ${SEQUENTIAL_CPU} sequential requests on one connection at the start of each round (which moves least with the machine's load).`,
        '| target | req/s (each round) | server CPU µs/request under autocannon (each round) | server CPU µs/request, sequential (each round) | p50 | p99 (autocannon, whole ms) | sequential p50 | sequential p99 |\n|---|---|---|---|---|---|---|---|\n' +
          (
            [
              ['bare fastify route', runs.bare, cpu.bare, seqCpu.bare, seq.bare],
              ['`sluice serve` L1 hit', runs.l1, cpu.l1, seqCpu.l1, seq.l1],
              ['`sluice serve` L2 hit', runs.l2, cpu.l2, seqCpu.l2, seq.l2],
            ] as const
          )
            .map(
              ([name, rs, us, sus, d]) =>
                `| ${name} | ${rs.map((r) => rate(r.requests.average, '')).join(', ')} | ${us.map((u) => u.toFixed(0)).join(', ')} | ${sus.map((u) => u.toFixed(0)).join(', ')} | ${median(rs.map((r) => r.latency.p50))} ms | ${median(rs.map((r) => r.latency.p99))} ms | ${d.p50.toFixed(3)} ms | ${d.p99.toFixed(3)} ms |`,
            )
            .join('\n'),
      ],
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await conn.end();
  }
});
