// Scenario (b): live invalidation latency.
//
// `sluice run` (the daemon) and `sluice serve` (the read API, a separate
// process with its own L1) on the bench services. 1,000 sequential
// single-row UPDATEs, each on a key that is cached in Redis and in the
// serve process's L1 beforehand. For every update, from the moment the
// UPDATE's commit is acknowledged to the client:
//   pass 0 (the floor): the same, on a table Sluice does not map, with a
//     bare zongji listener that UNLINKs each row's key as soon as its row
//     event arrives (workers/zongjiUnlink.ts): what binlog delivery and
//     one Redis round trip cost on this machine;
//   pass 1 (passive observers, nothing polls), interleaved with pass 0 one
//     update each (both listeners run throughout):
//     - key gone from Redis: Redis keyspace notification (`del`, enabled on
//       the bench Redis only with CONFIG SET notify-keyspace-events Kg);
//     - invalidation message received by a subscriber of the channel (the
//       moment every L1 subscriber, serve included, gets it: a proxy);
//   pass 2 (active):
//     - key evicted from serve's L1, observed through the API: GET in a
//       tight keep-alive loop until X-Cache is no longer `l1`; the send time
//       of that first non-L1 request is taken (an upper bound, by at most
//       one poll interval, which is reported).
import { performance } from 'node:perf_hooks';
import type { Connection } from 'mysql2/promise';
import { writeConfig } from '../lib/config.js';
import {
  adminConnection,
  benchRedis,
  httpPort,
  randomServerId,
  resetBenchRedis,
  servicesUp,
} from '../lib/env.js';
import { httpClient, waitReady } from '../lib/http.js';
import { schedCpuMs, startSluice, startWorker, type Proc } from '../lib/procs.js';
import { progress, runScenario } from '../lib/result.js';
import { distribution, median, pcts, type Distribution } from '../lib/stats.js';
import { createItems } from '../lib/tables.js';

const NAME = 'latency';
const UPDATES = Number(process.env.BENCH_LATENCY_UPDATES ?? 1000);
const WARMUP = 100;
const TABLE = 'lat_items';
const CHANNEL = 'sluice:bench:latency';
const LISTEN = `127.0.0.1:${httpPort(1)}`;
const BASE = `http://${LISTEN}`;
const KEY_PREFIX = 'lat:';
const FLOOR_TABLE = 'lat_floor';
const FLOOR_PREFIX = 'floor:';
const log = (text: string): void => progress(NAME, text);

/** Arrival times (performance.now()) of per-key events, with waiters. */
class Arrivals {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, (t: number) => void>();

  record(key: string, at: number): void {
    if (this.seen.has(key)) return;
    this.seen.set(key, at);
    this.waiters.get(key)?.(at);
    this.waiters.delete(key);
  }

  reset(key: string): void {
    this.seen.delete(key);
    this.waiters.delete(key);
  }

  wait(key: string, timeoutMs = 5000): Promise<number> {
    const at = this.seen.get(key);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no event for ${key} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

async function update(conn: Connection, id: number, table = TABLE): Promise<number> {
  await conn.query(`UPDATE ${table} SET score = score + 1 WHERE id = ?`, [id]);
  return performance.now();
}

runScenario(NAME, async () => {
  servicesUp();
  await resetBenchRedis();
  const conn = await adminConnection();
  const redis = benchRedis();
  // One subscriber connection for both observers. Redis hands each client
  // its pending replies in turn, the last written-to first: on two
  // connections the bus message (queued after the keyspace notification, on
  // another client) could be read and parsed first and delay the
  // notification's timestamp. On one connection both arrive in the order
  // Redis made them, and the notification is stamped first.
  const observer = benchRedis();
  const procs: Proc[] = [];
  const api = httpClient(BASE);
  const oldNotify = (await redis.config('GET', 'notify-keyspace-events'))[1] ?? '';
  try {
    await createItems(conn, TABLE, UPDATES + WARMUP);
    await createItems(conn, FLOOR_TABLE, UPDATES + WARMUP);
    const config = writeConfig({
      name: 'bench-latency',
      startFrom: 'end',
      channel: CHANNEL,
      listen: LISTEN,
      rules: [{ table: `bench.${TABLE}`, keys: [`${KEY_PREFIX}{id}`] }],
      resources: { lat: { table: `bench.${TABLE}`, key: `${KEY_PREFIX}{id}` } },
    });
    const daemon = startSluice('run', config);
    procs.push(daemon);
    await daemon.waitFor((l) => l.msg === 'binlog streaming');
    const serve = startSluice('serve', config);
    procs.push(serve);
    await waitReady(BASE, true);

    // Observers: keyspace `del` events and invalidation messages.
    await redis.config('SET', 'notify-keyspace-events', 'Kg');
    const deleted = new Arrivals();
    const messaged = new Arrivals();
    const ksPrefix = '__keyspace@0__:';
    observer.on('pmessage', (_p: string, channel: string, event: string) => {
      if (event === 'del') deleted.record(channel.slice(ksPrefix.length), performance.now());
    });
    await observer.psubscribe(`${ksPrefix}${KEY_PREFIX}*`, `${ksPrefix}${FLOOR_PREFIX}*`);
    observer.on('message', (_c: string, raw: string) => {
      const at = performance.now();
      const msg = JSON.parse(raw) as { keys?: string[] };
      for (const k of msg.keys ?? []) messaged.record(k, at);
    });
    await observer.subscribe(CHANNEL);

    /** Reads `id` through the API until serve answers it from L1 (so L2 and L1 both hold it). */
    const cacheInL1 = async (id: number): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const r = await api.get(`/v1/lat/${id}`);
        if (r.status !== 200) throw new Error(`GET /v1/lat/${id}: ${r.status} ${r.body}`);
        if (r.xCache === 'l1') return;
      }
      throw new Error(`/v1/lat/${id} never came from L1 (is the daemon heartbeat reaching serve?)`);
    };

    // Passes 0 and 1, interleaved: the floor (bare zongji + one UNLINK per
    // row, on its own table) and the daemon (passive observers) take turns,
    // one update each, the first of each pair alternating. Both listeners run
    // throughout, so each also receives (and skips) the other's events: the
    // same background for both, and no drift of the machine between them.
    const floorWorker = startWorker('zongjiUnlink.ts', [
      String(randomServerId()),
      'bench',
      FLOOR_TABLE,
      FLOOR_PREFIX,
    ]);
    procs.push(floorWorker);
    await floorWorker.waitFor((l) => l.ready === true);
    const floor: number[] = [];
    const toRedis: number[] = [];
    const toBus: number[] = [];
    let early = 0;
    const floorUpdate = async (id: number, measured: boolean): Promise<void> => {
      const key = `${FLOOR_PREFIX}${id}`;
      await redis.set(key, 'x');
      deleted.reset(key);
      const acked = await update(conn, id, FLOOR_TABLE);
      const gone = await deleted.wait(key);
      if (measured) floor.push(Math.max(0, gone - acked));
    };
    const daemonUpdate = async (id: number, measured: boolean): Promise<void> => {
      const key = `${KEY_PREFIX}${id}`;
      await redis.set(key, 'x');
      deleted.reset(key);
      messaged.reset(key);
      const acked = await update(conn, id);
      const [gone, heard] = await Promise.all([deleted.wait(key), messaged.wait(key)]);
      if (!measured) return;
      if (gone < acked) early++;
      toRedis.push(Math.max(0, gone - acked));
      toBus.push(Math.max(0, heard - acked));
    };
    log(
      `warm-up (${WARMUP} pairs), then ${UPDATES} updates each, interleaved: pass 0 (the floor, bare zongji + UNLINK) and pass 1 (the daemon: keyspace + channel)`,
    );
    let floorCpu = 0;
    let daemonCpu = 0;
    for (let i = 0; i < WARMUP + UPDATES; i++) {
      if (i === WARMUP) {
        floorCpu = schedCpuMs(floorWorker.pid);
        daemonCpu = schedCpuMs(daemon.pid);
      }
      const measured = i >= WARMUP;
      if (i % 2 === 0) {
        await floorUpdate(i + 1, measured);
        await daemonUpdate(i + 1, measured);
      } else {
        await daemonUpdate(i + 1, measured);
        await floorUpdate(i + 1, measured);
      }
    }
    floorCpu = schedCpuMs(floorWorker.pid) - floorCpu;
    daemonCpu = schedCpuMs(daemon.pid) - daemonCpu;
    await floorWorker.stop();

    // Pass 2: L1 eviction in serve, observed through the API.
    log(`${UPDATES} updates (pass 2: polling serve until X-Cache leaves l1)`);
    const toL1: number[] = [];
    const pollRtt: number[] = [];
    for (let i = 0; i < UPDATES; i++) {
      const id = i + 1;
      await cacheInL1(id);
      const acked = await update(conn, id);
      for (;;) {
        const sent = performance.now();
        const r = await api.get(`/v1/lat/${id}`);
        if (r.xCache === 'l1')
          pollRtt.push(performance.now() - sent); // the poll interval
        else {
          toL1.push(Math.max(0, sent - acked));
          break;
        }
        if (sent - acked > 5000) throw new Error(`/v1/lat/${id} still served from L1 after 5 s`);
      }
    }

    const rtt =
      pollRtt.length === 0
        ? 'n/a: every first poll already missed L1'
        : `${median(pollRtt).toFixed(2)} ms`;
    const redisD = distribution(toRedis);
    const busD = distribution(toBus);
    const l1D = distribution(toL1);
    const floorD = distribution(floor);
    const row = (d: Distribution): string => `${pcts(d)} ms`;
    return {
      rows: [
        {
          scenario: 'live latency (1,000 single-row UPDATEs)',
          metric: 'commit acked → key gone from Redis, p50/p90/p99/max',
          sluice: row(redisD),
          compared: `floor (bare zongji + one UNLINK per row): ${row(floorD)}`,
          target: 'p99 ≤ 2 ms',
          met: redisD.p99 <= 2,
        },
        {
          scenario: 'live latency (1,000 single-row UPDATEs)',
          metric: 'commit acked → key evicted from L1 in `sluice serve`, p50/p90/p99/max',
          sluice: row(l1D),
          compared: `observed via the API (L1 poll round trip median ${rtt}); channel message at a subscriber: ${row(busD)}`,
          target: 'p99 ≤ 3 ms',
          met: l1D.p99 <= 3,
        },
      ],
      details: [
        `${UPDATES} sequential \`UPDATE ${TABLE} SET score = score + 1 WHERE id = ?\` (autocommit) after ${WARMUP} warm-up updates; ` +
          'before each, the key is SET in Redis (passes 0 and 1), or the row is read through `sluice serve` until it answers `X-Cache: l1` (pass 2), so the key is in Redis and in L1. ' +
          'Daemon and serve are the compiled CLI with default settings, each its own process.',
        `| path | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n` +
          [
            ['floor: bare zongji listener + one UNLINK per row (keyspace `del`)', floorD],
            ['commit ack → key gone from Redis (keyspace `del`)', redisD],
            ['commit ack → invalidation message at a subscriber (L1 proxy)', busD],
            ['commit ack → L1 eviction seen through the API (poll)', l1D],
          ]
            .map(([name, d]) => {
              const x = d as Distribution;
              return `| ${name as string} | ${x.p50.toFixed(2)} ms | ${x.p90.toFixed(2)} ms | ${x.p99.toFixed(2)} ms | ${x.max.toFixed(2)} ms |`;
            })
            .join('\n'),
        `Passes 0 and 1 are interleaved, one update each in turn (the first of each pair alternating), with both listeners running throughout: each also receives and skips the other's updates, so both see the same background and the same moments of the machine.`,
        `CPU per committed UPDATE (all threads of the listening process over the ${UPDATES} measured pairs, its own update and the other's it skips; scheduler time from /proc/PID/task/*/schedstat): ` +
          `daemon ${((daemonCpu * 1000) / UPDATES).toFixed(0)} µs, floor ${((floorCpu * 1000) / UPDATES).toFixed(0)} µs.`,
        `Key gone from Redis = arrival of the keyspace notification (\`notify-keyspace-events Kg\`, set on the bench Redis for this scenario only); ` +
          `${early} of ${UPDATES} notifications arrived before the client had processed its commit acknowledgement (counted as 0 ms).`,
        `Pass 2 polls the API in a tight loop (median round trip of a poll answered from L1: ${rtt}): the eviction time is the send time of the first ` +
          'non-L1 answer, so it over-states the true eviction time by up to one poll interval, and the polling itself competes with serve and the daemon for the 2 cores.',
      ],
    };
  } finally {
    await redis.config('SET', 'notify-keyspace-events', oldNotify).catch(() => undefined);
    api.close();
    for (const p of procs.reverse()) await p.stop();
    await conn.end();
    redis.disconnect();
    observer.disconnect();
  }
});
