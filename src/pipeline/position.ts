import { SluiceError } from '../errors/index.js';
import type { BinlogPosition } from '../infra/binlogPosition.js';

// The coordinate and its order live in infra/ (the bus compares them too);
// text form `binlog.000003:1234` (as in the contract).
export { comparePositions, type BinlogPosition } from '../infra/binlogPosition.js';

export function position(file: string, pos: number): BinlogPosition {
  return Object.freeze({ file, pos });
}

/** `binlog.000003:1234` */
export function formatPosition(p: BinlogPosition): string {
  return `${p.file}:${p.pos}`;
}

const POSITION_RE = /^([^\s:/\\]+):(\d{1,15})$/;

/** Parses `FILE:POS`; throws E_POSITION_INVALID naming the input. */
export function parsePosition(text: string, field = 'position'): BinlogPosition {
  const m = POSITION_RE.exec(text.trim());
  if (!m?.[1] || !m[2]) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${field}: "${text}" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234`,
      { details: { field, value: text } },
    );
  }
  const pos = Number(m[2]);
  if (pos < 4) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${field}: offset ${pos} is before the first event (4)`,
      { details: { field, value: text } },
    );
  }
  return position(m[1], pos);
}

/** Characters a GTID set may hold at all (tags add `_`; MySQL prints `,\n` between uuids). */
const GTID_CHARS_RE = /^[0-9A-Za-z_:,\-\s]*$/;
/** MariaDB GTID: `domain-server-seq`. */
const MARIA_GTID_RE = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;
const UUID_RE = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
/** MySQL 8.3+ GTID tag: a letter or `_`, then letters, digits or `_`, at most 32 characters. */
const TAG_RE = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const INTERVAL_RE = /^(\d{1,19})(?:-(\d{1,19}))?$/;
const U32_MAX = 4_294_967_295n;
const U64_MAX = 18_446_744_073_709_551_615n;
const GNO_MAX = 9_223_372_036_854_775_807n; // MySQL GNOs are signed 64-bit, from 1

/**
 * Parses a GTID set as `source.startFrom: gtid:SET` and `sluice position set`
 * take it, in one of the two flavours (never mixed):
 *
 * - MariaDB GTID position: `0-1-42` or `0-1-42,1-2-7`, one
 *   `domain-server-seq` per replication domain (`@@gtid_binlog_pos`);
 * - MySQL GTID set: `uuid:1-42`, several uuids separated by commas, each
 *   with one or more intervals (`uuid:1-5:11-18`) and, on MySQL 8.3+, tags
 *   (`uuid:1-5:tag_a:1-3`; `@@gtid_executed`, `Executed_Gtid_Set`).
 *
 * Whitespace around entries (MySQL prints `,\n` between uuids) is dropped;
 * the entries are returned joined by `,`, otherwise unchanged. `''` for an
 * empty set (the caller decides whether that is allowed). Throws
 * E_POSITION_INVALID naming `field` and the first bad entry.
 */
export function parseGtidSet(text: string, field = 'gtid'): string {
  const invalid = (why?: string): SluiceError =>
    new SluiceError(
      'E_POSITION_INVALID',
      `${field}: "${text}" is not a GTID set${why === undefined ? '' : `: ${why}`}`,
      { details: { field, value: text } },
    );
  if (!GTID_CHARS_RE.test(text)) throw invalid();
  if (text.trim() === '') return '';
  const entries = text.split(',').map((e) => e.trim());
  const domains = new Set<string>();
  let flavour: 'mariadb' | 'mysql' | undefined;
  for (const entry of entries) {
    if (entry === '') throw invalid('empty entry between commas');
    const kind = entry.includes(':') || UUID_RE.test(entry) ? 'mysql' : 'mariadb';
    if (flavour !== undefined && kind !== flavour) {
      throw invalid('mixes MariaDB GTIDs (domain-server-seq) and MySQL uuid:interval sets');
    }
    flavour = kind;
    const why = kind === 'mariadb' ? mariaGtidProblem(entry, domains) : mysqlUuidSetProblem(entry);
    if (why !== null) throw invalid(why);
  }
  return entries.join(',');
}

function mariaGtidProblem(entry: string, domains: Set<string>): string | null {
  const m = MARIA_GTID_RE.exec(entry);
  if (!m?.[1] || !m[2] || !m[3]) {
    return `"${entry}" is neither a MariaDB GTID (domain-server-seq, e.g. 0-1-42) nor a MySQL uuid:interval set`;
  }
  if (BigInt(m[1]) > U32_MAX || BigInt(m[2]) > U32_MAX || BigInt(m[3]) > U64_MAX) {
    return `"${entry}" is out of range (domain and server id are 32-bit, seq 64-bit)`;
  }
  const domain = String(BigInt(m[1]));
  if (domains.has(domain)) return `domain ${domain} appears twice (one GTID per domain)`;
  domains.add(domain);
  return null;
}

/** `uuid:interval[:interval…][:tag:interval[:interval…]…]` (Gtid_set::add_gtid_text). */
function mysqlUuidSetProblem(entry: string): string | null {
  const [uuid = '', ...items] = entry.split(':').map((p) => p.trim());
  if (!UUID_RE.test(uuid)) return `"${uuid}" in "${entry}" is not a server uuid`;
  let hasInterval = false;
  let tagWithoutInterval: string | null = null;
  for (const item of items) {
    if (TAG_RE.test(item)) {
      if (tagWithoutInterval !== null) return `tag "${tagWithoutInterval}" has no interval`;
      tagWithoutInterval = item;
      continue;
    }
    const m = INTERVAL_RE.exec(item);
    const start = m?.[1] === undefined ? 0n : BigInt(m[1]);
    const end = m?.[2] === undefined ? start : BigInt(m[2]);
    if (m === null || start < 1n || end > GNO_MAX) {
      return `"${item}" in "${entry}" is not a transaction number or range (1 to 2^63-1)`;
    }
    if (end < start) return `range "${item}" in "${entry}" ends before it starts`;
    hasInterval = true;
    tagWithoutInterval = null;
  }
  if (tagWithoutInterval !== null) return `tag "${tagWithoutInterval}" has no interval`;
  if (!hasInterval) return `"${entry}" has no transaction interval (uuid:1-42)`;
  return null;
}
