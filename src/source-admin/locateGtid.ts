import { SluiceError } from '../errors/index.js';
import { comparePositions, position, type BinlogPosition } from '../pipeline/position.js';
import type { BinaryLog, BinlogEventRow, ServerInfo } from './ServerInfo.js';

/** One MariaDB GTID, `domain-server-seq`. */
export interface MariaGtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

const GTID_RE = /^(\d+)-(\d+)-(\d+)$/;

/**
 * Parses a MariaDB GTID position (`0-1-42,1-2-7`, one GTID per domain).
 * Throws E_POSITION_INVALID for anything else, including MySQL `uuid:1-5`
 * sets, whose binlog offsets this tool cannot look up.
 */
export function parseMariaGtidPosition(text: string, field = 'gtid'): MariaGtid[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) {
    throw new SluiceError('E_POSITION_INVALID', `${field}: the GTID set is empty`, {
      details: { field },
    });
  }
  const seen = new Set<number>();
  return parts.map((part) => {
    const m = GTID_RE.exec(part);
    if (!m) {
      throw new SluiceError(
        'E_POSITION_INVALID',
        `${field}: "${part}" is not a MariaDB GTID (domain-server-seq, e.g. 0-1-42); ` +
          'MySQL GTID sets cannot be turned into a binlog position here: give FILE:POS',
        { details: { field, value: text } },
      );
    }
    const gtid = { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3] ?? '0') };
    if (seen.has(gtid.domain)) {
      throw new SluiceError(
        'E_POSITION_INVALID',
        `${field}: domain ${gtid.domain} appears twice in "${text}"`,
        {
          details: { field, value: text },
        },
      );
    }
    seen.add(gtid.domain);
    return gtid;
  });
}

/** The GTIDs of a Gtid_list event's Info (`[0-1-40,1-2-7]`). */
export function parseGtidList(info: string): MariaGtid[] {
  const out: MariaGtid[] = [];
  for (const m of info.matchAll(/(\d+)-(\d+)-(\d+)/g)) {
    out.push({ domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3] ?? '0') });
  }
  return out;
}

const EVENTS_PER_QUERY = 10_000;

/**
 * The binlog position just after the transactions of a MariaDB GTID
 * position: where a reader that has applied exactly those transactions
 * resumes. With several domains the earliest of their ends is returned, so
 * nothing not covered by the set is skipped (a few transactions may be read
 * twice, which invalidation tolerates). Reads SHOW BINLOG EVENTS; throws
 * E_POSITION_LOST when a GTID is not in the server's binary logs.
 */
export async function locateGtid(server: ServerInfo, text: string): Promise<BinlogPosition> {
  const gtids = parseMariaGtidPosition(text);
  if (server.flavor.kind !== 'mariadb') {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `gtid positions can only be looked up on MariaDB (${server.flavor.text}); give FILE:POS`,
    );
  }
  const logs = await server.binaryLogs();
  let best: BinlogPosition | null = null;
  for (const gtid of gtids) {
    const at = await locateOne(server, logs, gtid);
    if (best === null || comparePositions(at, best) < 0) best = at;
  }
  return best as BinlogPosition;
}

function describe(g: MariaGtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

async function locateOne(
  server: ServerInfo,
  logs: readonly BinaryLog[],
  gtid: MariaGtid,
): Promise<BinlogPosition> {
  // Each binlog file opens with a Gtid_list event: the last GTID of every
  // domain written before the file. The transaction is in the newest file
  // whose list is still below it.
  for (let i = logs.length - 1; i >= 0; i--) {
    const file = (logs[i] as BinaryLog).file;
    const opening = await server.binlogEvents(file, null, 4);
    const list = opening.find((e) => e.type === 'Gtid_list');
    const before = list
      ? parseGtidList(list.info).find((g) => g.domain === gtid.domain)
      : undefined;
    if (before !== undefined && before.seq > gtid.seq) continue;
    if (before !== undefined && before.seq === gtid.seq) {
      // Complete before this file: resuming at its start skips nothing newer.
      if (before.server !== gtid.server) break;
      return position(file, 4);
    }
    const end = await transactionEnd(server, file, gtid);
    if (end !== null) return position(file, end);
    break;
  }
  throw new SluiceError(
    'E_POSITION_LOST',
    `GTID ${describe(gtid)} is not in the server's binary logs (purged, or never written)`,
    { details: { gtid: describe(gtid) } },
  );
}

/** The end offset of the transaction `gtid` in `file`, or null when it is not there. */
async function transactionEnd(
  server: ServerInfo,
  file: string,
  gtid: MariaGtid,
): Promise<number | null> {
  let from: number | null = null;
  let state: 'searching' | 'standalone' | 'transaction' = 'searching';
  for (;;) {
    const events: BinlogEventRow[] = await server.binlogEvents(file, from, EVENTS_PER_QUERY);
    for (const ev of events) {
      if (state === 'searching') {
        if (ev.type !== 'Gtid') continue;
        const m = /GTID (\d+)-(\d+)-(\d+)/.exec(ev.info);
        if (!m || Number(m[1]) !== gtid.domain || Number(m[2]) !== gtid.server) continue;
        if (BigInt(m[3] ?? '0') !== gtid.seq) continue;
        // `BEGIN GTID …` opens a transaction ended by XID/COMMIT; a bare
        // `GTID …` precedes one standalone statement (DDL).
        state = /^(BEGIN|XA START)\b/i.test(ev.info) ? 'transaction' : 'standalone';
        continue;
      }
      if (state === 'standalone' && ev.type === 'Query') return ev.endPos;
      if (
        state === 'transaction' &&
        (ev.type === 'Xid' ||
          ev.type === 'XA_prepare' ||
          (ev.type === 'Query' && /^(COMMIT|ROLLBACK)\b/i.test(ev.info.trim())))
      ) {
        return ev.endPos;
      }
    }
    const last = events[events.length - 1];
    if (events.length < EVENTS_PER_QUERY || last === undefined) return null;
    from = last.endPos;
  }
}
