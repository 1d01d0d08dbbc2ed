import { SluiceError } from '../errors/index.js';
import { comparePositions, type BinlogPosition } from '../infra/binlogPosition.js';

/**
 * A fence token: how far a writer's own commit is, as the writer's
 * connection reports it (see `fenceToken` in src/db). Three forms:
 *   MariaDB GTIDs   `0-1-42` or `0-1-42,1-2-7`          (domain-server-seq)
 *   MySQL GTID set  `3E11FA47-…:1-42` or `uuid:tag:1-5,uuid2:3`
 *   a position      `binlog.000003:1234`               (GTIDs off; one server only)
 */
export type FenceToken =
  | { readonly kind: 'mariadb'; readonly text: string; readonly seqs: ReadonlyMap<number, bigint> }
  | { readonly kind: 'mysql'; readonly text: string; readonly ends: ReadonlyMap<string, bigint> }
  | {
      readonly kind: 'position';
      readonly text: string;
      readonly file: string;
      readonly pos: number;
    };

const MARIADB_GTID = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/i;
const INTERVAL = /^(\d{1,20})(?:-(\d{1,20}))?$/;
const POSITION = /^([^\s:/\\,]+):(\d{1,15})$/;

/** Longest token accepted (a header value, a library argument). */
export const MAX_TOKEN_LENGTH = 4096;

function invalid(text: string, why: string): SluiceError {
  return new SluiceError(
    'E_FENCE_TOKEN_INVALID',
    `fence token "${text.slice(0, 100)}": ${why}; expected a MariaDB GTID (0-1-42), a MySQL GTID set (uuid:1-42) or FILE:POS`,
    { details: { token: text.slice(0, 100) } },
  );
}

/** Sets `map`'s entry to `value` unless it holds as much already: marks and tokens keep the highest. */
function raise<K>(map: Map<K, bigint>, key: K, value: bigint): void {
  const current = map.get(key);
  if (current === undefined || current < value) map.set(key, value);
}

/** The token, or why it is not one (a watermark ignores foreign marks without an exception). */
function readToken(raw: string): FenceToken | { readonly kind: 'invalid'; readonly why: string } {
  const text = raw.trim().replace(/\s*,\s*/g, ',');
  if (text === '') return { kind: 'invalid', why: 'empty' };
  if (text.length > MAX_TOKEN_LENGTH)
    return { kind: 'invalid', why: `longer than ${MAX_TOKEN_LENGTH}` };
  const parts = text.split(',');
  if (parts.every((p) => MARIADB_GTID.test(p))) {
    const seqs = new Map<number, bigint>();
    for (const p of parts) {
      const [, domain, , seq] = MARIADB_GTID.exec(p) as RegExpExecArray;
      raise(seqs, Number(domain), BigInt(seq as string));
    }
    return { kind: 'mariadb', text, seqs };
  }
  const position = POSITION.exec(text);
  if (position !== null && !UUID.test(position[1] as string)) {
    return { kind: 'position', text, file: position[1] as string, pos: Number(position[2]) };
  }
  const ends = new Map<string, bigint>();
  for (const part of parts) {
    // split() always returns at least one piece.
    const [uuid, ...rest] = part.split(':') as [string, ...string[]];
    if (!UUID.test(uuid) || rest.length === 0) {
      return { kind: 'invalid', why: `"${part.slice(0, 60)}" is not a GTID` };
    }
    let tag = '';
    for (const piece of rest) {
      if (TAG.test(piece)) {
        tag = `:${piece.toLowerCase()}`;
        continue;
      }
      const m = INTERVAL.exec(piece);
      if (m === null)
        return { kind: 'invalid', why: `"${piece.slice(0, 60)}" is not a transaction interval` };
      // A single transaction (no end) is an interval that ends where it starts.
      const end = BigInt((m[2] ?? m[1]) as string);
      if (end < BigInt(m[1] as string)) {
        return { kind: 'invalid', why: `interval ${piece} ends before it starts` };
      }
      raise(ends, `${uuid.toLowerCase()}${tag}`, end);
    }
  }
  return { kind: 'mysql', text, ends };
}

/** Parses a fence token; E_FENCE_TOKEN_INVALID says what is wrong. */
export function parseFenceToken(raw: string): FenceToken {
  const token = readToken(raw);
  if (token.kind === 'invalid') throw invalid(raw, token.why);
  return token;
}

/**
 * How far one daemon (one bus `src`) has invalidated, as its messages and
 * heartbeats report it: every invalidation up to the transaction named is
 * acknowledged by Redis, and, once this process handled the message, gone
 * from its L1 too. It only moves forward: per MariaDB domain the highest
 * sequence number, per MySQL server uuid (and tag) the highest transaction,
 * and the highest binlog position. A token passes when every part of it is
 * at or below the mark; a token of a domain or server this mark never saw
 * does not pass (the read then goes to the database: never stale).
 */
export class Watermark {
  private readonly domains = new Map<number, bigint>();
  private readonly servers = new Map<string, bigint>();
  /** The highest binlog position seen, or null before the first. */
  private at: BinlogPosition | null = null;

  /** Takes in a message's `pos` and `gtid` (either may be absent or foreign: then ignored). */
  advance(pos: string | undefined, gtid: string | undefined): void {
    if (pos !== undefined) {
      const m = POSITION.exec(pos);
      if (m !== null) this.advancePosition(m[1] as string, Number(m[2]));
    }
    if (gtid === undefined) return;
    // Positions and foreign text in the gtid field are ignored.
    const token = readToken(gtid);
    if (token.kind === 'mariadb') {
      for (const [d, n] of token.seqs) raise(this.domains, d, n);
    } else if (token.kind === 'mysql') {
      for (const [s, n] of token.ends) raise(this.servers, s, n);
    }
  }

  /** True once everything the token names is invalidated. */
  passes(token: FenceToken): boolean {
    switch (token.kind) {
      case 'mariadb':
        for (const [d, n] of token.seqs) if ((this.domains.get(d) ?? -1n) < n) return false;
        return true;
      case 'mysql':
        for (const [s, n] of token.ends) if ((this.servers.get(s) ?? -1n) < n) return false;
        return true;
      case 'position':
        return this.at !== null && comparePositions(this.at, token) >= 0;
    }
  }

  private advancePosition(file: string, pos: number): void {
    if (this.at === null || comparePositions(this.at, { file, pos }) < 0) this.at = { file, pos };
  }
}
