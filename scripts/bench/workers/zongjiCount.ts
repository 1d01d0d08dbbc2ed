// The floor of the replay scenario: a bare zongji listener over a binlog
// range that only counts row images. Same connection and decoding options as
// Sluice's BinlogSource, same table filter, nothing else.
//   node --import tsx scripts/bench/workers/zongjiCount.ts FILE FROM TO SERVER_ID DB TABLE[,TABLE…]
// Prints one JSON line: {rows, startedAt, endedAt, rssPeak, cpuMs}
// (cpuMs: user + system CPU time of this process over the timed span).
import ZongJi, { type BinlogEvent } from '@vlasky/zongji';
import { readFileSync } from 'node:fs';
import { bench } from '../lib/env.js';

const [file, from, to, serverId, db, table] = process.argv.slice(2);
if (!file || !from || !to || !serverId || !db || !table) {
  console.error('usage: zongjiCount.ts FILE FROM TO SERVER_ID DB TABLE');
  process.exit(2);
}
const end = Number(to);

const zongji = new ZongJi(bench.zongji);
let rows = 0;
let done = false;
zongji.on('binlog', (event: BinlogEvent & { rows?: unknown[] }) => {
  const name = event.getEventName();
  if (name === 'xid') {
    if (!done && event.nextPosition >= end) {
      done = true;
      const endedAt = Date.now();
      const status = readFileSync('/proc/self/status', 'utf8');
      const rssPeak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      console.log(JSON.stringify({ rows, startedAt, endedAt, rssPeak, cpuMs: cpuSince(cpu0) }));
      zongji.stop();
    }
    return;
  }
  if (event.rows !== undefined) rows += event.rows.length;
});
zongji.on('error', (err: Error) => {
  console.error(err);
  process.exit(1);
});
zongji.on('stopped', () => process.exit(0));
const startedAt = Date.now();
const cpu0 = process.cpuUsage();
zongji.start({
  serverId: Number(serverId),
  filename: file,
  position: Number(from),
  includeSchema: { [db]: table.split(',') },
  includeEvents: ['rotate', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid'],
});

function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}
