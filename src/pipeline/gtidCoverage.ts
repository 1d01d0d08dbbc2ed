/**
 * Whether a server holds every transaction a checkpoint's GTIDs name: the
 * condition for following a checkpoint onto another server by GTID. A
 * checkpoint ahead of the new primary means transactions were lost in the
 * failover (invalidated, then gone from the database): following from the
 * new primary's end would hide that.
 *
 * - MariaDB: `want` is a GTID position (`0-1-42,1-2-7`, the last
 *   transaction per domain), `have` the server's `@@gtid_binlog_state` (the
 *   last GTID per domain and server id). Covered when, for every domain,
 *   `have` holds the same server id at a sequence number at least as high
 *   (`gtid_strict_mode` keeps sequence numbers rising within a domain).
 * - MySQL: both are GTID sets (`uuid:1-5:11-18,uuid2:1-27`, tags allowed);
 *   covered when `want` is a subset of `have` (`GTID_SUBSET`).
 *
 * Pure; the sets come from the server and the checkpoint, already checked.
 */
export function gtidCovered(want: string, have: string): boolean {
  return want.includes(':') ? mysqlSubset(want, have) : mariaCovered(want, have);
}

function mariaCovered(want: string, have: string): boolean {
  const last = new Map<string, bigint>();
  for (const g of mariaEntries(have)) {
    const key = `${g.domain}-${g.server}`;
    const seen = last.get(key);
    if (seen === undefined || g.seq > seen) last.set(key, g.seq);
  }
  return mariaEntries(want).every((g) => {
    const seq = last.get(`${g.domain}-${g.server}`);
    return seq !== undefined && seq >= g.seq;
  });
}

function mariaEntries(text: string): Array<{ domain: bigint; server: bigint; seq: bigint }> {
  return text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((e) => {
      const [domain = '0', server = '0', seq = '0'] = e.split('-');
      return { domain: BigInt(domain), server: BigInt(server), seq: BigInt(seq) };
    });
}

type Intervals = Array<[bigint, bigint]>;

function mysqlSubset(want: string, have: string): boolean {
  const haveSets = mysqlIntervals(have);
  for (const [source, intervals] of mysqlIntervals(want)) {
    const within = haveSets.get(source) ?? [];
    for (const [start, end] of intervals) {
      if (!within.some(([s, e]) => s <= start && end <= e)) return false;
    }
  }
  return true;
}

/** `uuid` or `uuid:tag` → coalesced, sorted intervals. */
function mysqlIntervals(text: string): Map<string, Intervals> {
  const out = new Map<string, Intervals>();
  for (const entry of text.split(',')) {
    const [head = '', ...items] = entry.split(':');
    const uuid = head.trim();
    if (uuid === '') continue;
    let source = uuid.toLowerCase();
    for (const item of items) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(item.trim());
      if (m === null) {
        source = `${uuid.toLowerCase()}:${item.trim().toLowerCase()}`;
        continue;
      }
      const start = BigInt(m[1] ?? '0');
      const list = out.get(source) ?? [];
      list.push([start, m[2] === undefined ? start : BigInt(m[2])]);
      out.set(source, list);
    }
  }
  for (const [source, list] of out) out.set(source, coalesce(list));
  return out;
}

function coalesce(list: Intervals): Intervals {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Intervals = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && start <= last[1] + 1n) {
      if (end > last[1]) last[1] = end;
    } else merged.push([start, end]);
  }
  return merged;
}
