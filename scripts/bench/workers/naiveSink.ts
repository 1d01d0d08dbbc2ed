// The "why batching matters" line of the replay scenario: Sluice's own
// binlog source and key mapper, but a naive sink that sends one UNLINK per
// key (`UNLINK key leaseKey`, so rule 2 still holds) in one ioredis pipeline
// per rows event (so it is not even round-trip bound), plus one PUBLISH per
// rows event. Backpressure pauses the source as in Sluice.
//   node --import tsx scripts/bench/workers/naiveSink.ts FILE FROM TO SERVER_ID TABLE TEMPLATE...
// Prints one JSON line: {rows, keys, commands, startedAt, endedAt, rssPeak, cpuMs}
// (cpuMs: user + system CPU time of this process over the timed span).
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { KeyTemplate } from '../../../src/keys/KeyTemplate.js';
import { RedisKeys } from '../../../src/keys/RedisKeys.js';
import { KeyMapper } from '../../../src/pipeline/mapping/KeyMapper.js';
import { position } from '../../../src/pipeline/position.js';
import { BinlogSource } from '../../../src/pipeline/source/BinlogSource.js';
import { bench } from '../lib/env.js';

const [file, from, to, serverId, table, ...templates] = process.argv.slice(2);
if (!file || !from || !to || !serverId || !table || templates.length === 0) {
  console.error('usage: naiveSink.ts FILE FROM TO SERVER_ID DB.TABLE TEMPLATE...');
  process.exit(2);
}
const end = Number(to);
const MAX_PENDING = 20_000;

const redis = new Redis(bench.redisUrl);
const mapper = new KeyMapper([{ table, keys: templates.map((t) => KeyTemplate.parse(t)) }]);
let rows = 0;
let keys = 0;
let commands = 0;
let pending = 0;
let reachedEnd = false;
let finished = false;
let seq = 0;

const source = new BinlogSource(
  {
    url: bench.sourceUrl,
    serverId: Number(serverId),
    heartbeatMs: 1000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
    tables: mapper.tables,
    logger: pino({ level: 'silent' }),
    stopAt: position(file, end),
  },
  {
    onEvent(ev) {
      if (ev.type === 'rows') {
        rows += ev.changes.length;
        const set = mapper.keysOf(ev.changes);
        const pipe = redis.pipeline();
        for (const key of set) pipe.unlink(key, RedisKeys.lease(key));
        pipe.publish(
          'sluice:bench:naive',
          JSON.stringify({ v: 1, src: 'naive', seq: ++seq, keys: [...set] }),
        );
        keys += set.length;
        const n = pipe.length;
        commands += n;
        pending += n;
        if (pending > MAX_PENDING) source.pause();
        pipe.exec().then(
          () => {
            pending -= n;
            if (pending < MAX_PENDING / 2) source.resume();
            maybeDone();
          },
          (err: unknown) => {
            console.error(err);
            process.exit(1);
          },
        );
      } else if (ev.type === 'commit' && ev.position.pos >= end) {
        reachedEnd = true;
        maybeDone();
      }
    },
    onFatal(err) {
      console.error(err);
      process.exit(1);
    },
  },
);

function maybeDone(): void {
  if (!reachedEnd || pending > 0 || finished) return;
  finished = true;
  const endedAt = Date.now();
  const status = readFileSync('/proc/self/status', 'utf8');
  const rssPeak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  console.log(
    JSON.stringify({ rows, keys, commands, startedAt, endedAt, rssPeak, cpuMs: cpuSince(cpu0) }),
  );
  void source.stop().then(() => {
    redis.disconnect();
    process.exit(0);
  });
}

const startedAt = Date.now();
const cpu0 = process.cpuUsage();
source.start({ kind: 'position', position: position(file, Number(from)) });

function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}
