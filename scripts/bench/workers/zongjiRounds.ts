// The least a binlog invalidator must do, as a second floor for issue 15
// (CPU per transaction, docs/benchmarks.md): a bare zongji listener that
// decodes the same tables as the daemon, renders the daemon's keys per row
// image (`<table>:{id}`, and `<table>:k:{k}` where the table has a `k`: the
// sysbench rules, `sbtestN:{id}` and `sbtestN:k:{k}`) into a set, and sends them the way
// the daemon's rounds go under a stream: the first key arms a timer of
// DELAY_MS, at most one round is in flight, and what gathers meanwhile waits
// for the reply and then the timer again. A round is one write of
// pre-encoded RESP on a bare socket (UNLINK of the keys, PUBLISH of a JSON
// message naming them) and its two integer replies. Nothing else: no lease
// keys, no checkpoint, no sequence, no reconnects, no ioredis.
//   node --import tsx scripts/bench/workers/zongjiRounds.ts SERVER_ID TABLES DELAY_MS CHANNEL
// TABLES is `db.t,db.t`. Prints {"ready":true} once streaming and, on
// SIGTERM, {"msg":"pipeline stopped","rounds":…,"batches":…,"checkpoints":0,"transactions":…}
// (the daemon's own counters, as liveCpu.ts reads them).
import { connect } from 'node:net';
import ZongJi, { type BinlogEvent } from '@vlasky/zongji';
import { bench } from '../lib/env.js';

const [serverId, tables, delay, channel] = process.argv.slice(2);
if (!serverId || !tables || !delay || !channel) {
  console.error('usage: zongjiRounds.ts SERVER_ID TABLES DELAY_MS CHANNEL');
  process.exit(2);
}
const DELAY_MS = Number(delay);
type Row = Record<string, unknown>;
type RowsEvent = BinlogEvent & {
  rows?: Array<Row & { before?: Row; after?: Row }>;
  tableId?: number;
  tableMap?: Record<number, { tableName: string }>;
};

const url = new URL(bench.redisUrl);
const socket = connect(Number(url.port), url.hostname);
socket.setNoDelay(true);

let open = new Set<string>();
let timer: NodeJS.Timeout | null = null;
let inFlight = false;
let pendingReplies = 0;
let seq = 0;
let rounds = 0;
let transactions = 0;

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

function arm(): void {
  if (timer !== null || inFlight || open.size === 0) return;
  timer = setTimeout(send, DELAY_MS);
}

function send(): void {
  timer = null;
  const keys = Array.from(open);
  open = new Set();
  let unlink = `*${keys.length + 1}\r\n$6\r\nUNLINK\r\n`;
  for (const k of keys) unlink += bulk(k);
  const message = JSON.stringify({ v: 1, src: 'floor', seq: ++seq, keys });
  socket.write(
    Buffer.from(`${unlink}*3\r\n$7\r\nPUBLISH\r\n${bulk(channel as string)}${bulk(message)}`),
  );
  inFlight = true;
  pendingReplies += 2;
  rounds++;
}

// Both replies are integers (`:n\r\n`), so a reply is a line.
socket.on('data', (chunk: Buffer) => {
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
    if (--pendingReplies === 0) {
      inFlight = false;
      arm();
    }
  }
});

const zongji = new ZongJi(bench.zongji);
zongji.on('binlog', (binlogEvent: BinlogEvent) => {
  const event = binlogEvent as RowsEvent;
  if (event.rows === undefined) {
    if (event.getEventName() === 'xid') transactions++;
    return;
  }
  const name = event.tableMap?.[event.tableId ?? -1]?.tableName;
  if (name === undefined) return;
  for (const row of event.rows) {
    for (const image of row.after === undefined ? [row] : [row.before as Row, row.after]) {
      open.add(`${name}:${String(image.id)}`);
      if (image.k !== undefined) open.add(`${name}:k:${image.k as number}`);
    }
  }
  arm();
});
zongji.on('error', (err: Error) => {
  console.error(err);
  process.exit(1);
});
zongji.on('ready', () => console.log(JSON.stringify({ ready: true })));
process.on('SIGTERM', () => {
  console.log(
    JSON.stringify({
      msg: 'pipeline stopped',
      rounds,
      batches: rounds,
      checkpoints: 0,
      transactions,
    }),
  );
  zongji.stop();
  socket.destroy();
  setTimeout(() => process.exit(0), 200).unref();
});
const filter: Record<string, string[]> = {};
for (const t of tables.split(',')) {
  const [d, n] = t.split('.');
  if (d && n) (filter[d] ??= []).push(n);
}
zongji.start({
  serverId: Number(serverId),
  startAtEnd: true,
  includeSchema: filter,
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows', 'xid'],
});
