// The floor of the latency scenario: a bare zongji listener that UNLINKs
// `<prefix><id>` the moment a row event of the table arrives, one command
// per row, no batching, no checkpoint, no publish. ALSO (`db.t,db.t`) are
// tables whose rows it decodes too (as the daemon must) without acting on them.
//   node --import tsx scripts/bench/workers/zongjiUnlink.ts SERVER_ID DB TABLE PREFIX [ALSO]
// Prints {"ready":true} once streaming.
import ZongJi, { type BinlogEvent } from '@vlasky/zongji';
import { Redis } from 'ioredis';
import { bench } from '../lib/env.js';

const [serverId, db, table, prefix, also] = process.argv.slice(2);
if (!serverId || !db || !table || !prefix) {
  console.error('usage: zongjiUnlink.ts SERVER_ID DB TABLE PREFIX');
  process.exit(2);
}
const redis = new Redis(bench.redisUrl);
const zongji = new ZongJi(bench.zongji);
type Row = Record<string, unknown>;
type RowsEvent = BinlogEvent & {
  rows?: Array<Row & { after?: Row }>;
  tableId?: number;
  tableMap?: Record<number, { tableName: string }>;
};
zongji.on('binlog', (binlogEvent: BinlogEvent) => {
  const event = binlogEvent as RowsEvent;
  if (event.rows === undefined) return;
  if (event.tableMap?.[event.tableId ?? -1]?.tableName !== table) return;
  for (const row of event.rows) {
    const id = (row.after ?? row).id;
    void redis.unlink(`${prefix}${String(id)}`);
  }
});
zongji.on('error', (err: Error) => {
  console.error(err);
  process.exit(1);
});
zongji.on('ready', () => console.log(JSON.stringify({ ready: true })));
process.on('SIGTERM', () => {
  zongji.stop();
  redis.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
});
zongji.start({
  serverId: Number(serverId),
  startAtEnd: true,
  includeSchema: schemaFilter(),
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows'],
});

function schemaFilter(): Record<string, string[]> {
  const filter: Record<string, string[]> = { [db as string]: [table as string] };
  for (const t of also?.split(',') ?? []) {
    const [d, n] = t.split('.');
    if (d && n) (filter[d] ??= []).push(n);
  }
  return filter;
}
