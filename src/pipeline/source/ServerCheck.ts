import type { Connection } from 'mysql2';
import { SluiceError } from '../../errors/index.js';
import { formatPosition } from '../position.js';
import { describeServer, sameServer } from '../ServerIdentity.js';
import { gtidMatchesAt, parseProbe, PROBE_SQL, type ServerProbe } from './ServerProbe.js';
import type { StartPoint } from './StartPoint.js';

export type { StartPoint } from './StartPoint.js';

/** Another server answered than the one a position belongs to (see SourceHandler.onServerChanged). */
export interface ServerChange {
  /** The position that was not streamed, with its GTIDs and its server (unknown in older checkpoints). */
  readonly from: Extract<StartPoint, { kind: 'position' }>;
  /** What answered instead. */
  readonly now: ServerProbe;
  /** `host:port` that answered. */
  readonly host: string;
  /**
   * `identity`: another server; `binlog`: the same server id whose binlog
   * holds other transactions at that position (a rebuilt server).
   */
  readonly reason: 'identity' | 'binlog';
}

/** What the server said before the dump request: who it is, and (MariaDB) its GTIDs at the position. */
export interface ServerAnswer {
  readonly probe: ServerProbe;
  /** MariaDB `BINLOG_GTID_POS(file, pos)` of a position start; undefined otherwise or unknown. */
  readonly gtidThere: string | undefined;
}

/**
 * Queues the questions on `conn`, the binlog connection itself, right
 * after zongji.start(): a connection runs its commands in order and zongji
 * sends the dump request only after its own asynchronous preamble, so the
 * answers arrive before any binlog event, and they come from the server
 * that will stream. Calls `done` once.
 */
export function askServer(
  conn: Connection,
  from: StartPoint,
  done: (err: Error | null, answer?: ServerAnswer) => void,
): void {
  let probe: ServerProbe | null = null;
  conn.query(PROBE_SQL, (err: unknown, rows: unknown) => {
    if (err) {
      done(err as Error);
      return;
    }
    probe = parseProbe(rows as Array<Record<string, unknown>>);
    if (from.kind !== 'position') done(null, { probe, gtidThere: undefined });
  });
  if (from.kind !== 'position') return;
  // MariaDB: the GTID position at that offset of this server's binlog
  // (MySQL has no such function: the error is expected and ignored).
  conn.query(
    'SELECT BINLOG_GTID_POS(?, ?) AS g',
    [from.position.file, from.position.pos],
    (err: unknown, rows: unknown) => {
      if (probe === null) return; // the probe failed: reported above
      const g = err ? null : ((rows as Array<{ g?: unknown }>)[0]?.g ?? null);
      done(null, { probe, gtidThere: typeof g === 'string' ? g : undefined });
    },
  );
}

/** Stream from `from` on this server, or not. */
export type ServerVerdict =
  | {
      readonly verdict: 'stream';
      /** The position named no server: it is taken as one of this server's. */
      readonly assumed: boolean;
    }
  | { readonly verdict: 'changed'; readonly change: Omit<ServerChange, 'host'> };

/**
 * The rule: a `FILE:POS` is streamed only from the server it belongs to;
 * on MariaDB that server's binlog must also agree, at that offset, with
 * the GTIDs stored with it (a rebuilt server keeps its id, not its binlog;
 * and a checkpoint of an older version names no server, only its GTID).
 * GTID and end starts belong to no server. Pure.
 */
export function judgeServer(from: StartPoint, answer: ServerAnswer): ServerVerdict {
  if (from.kind !== 'position') return { verdict: 'stream', assumed: false };
  const expected = from.server;
  const { probe, gtidThere } = answer;
  const change = (reason: ServerChange['reason']): ServerVerdict => ({
    verdict: 'changed',
    change: { from, now: probe, reason },
  });
  if (expected !== undefined && !sameServer(expected, probe.identity)) return change('identity');
  if (
    probe.identity.kind === 'mariadb' &&
    from.gtid !== undefined &&
    gtidThere !== undefined &&
    !gtidMatchesAt(from.gtid, gtidThere)
  ) {
    return change('binlog');
  }
  return { verdict: 'stream', assumed: expected === undefined };
}

/**
 * Where the GTID tracker starts on a server that passed judgeServer: the
 * GTID start itself, the server's head for an end start, and for a
 * position MariaDB's own answer at that offset (exact, even for domains an
 * older checkpoint did not record), else the stored GTIDs. Pure.
 */
export function gtidSeed(from: StartPoint, answer: ServerAnswer): string | undefined {
  if (from.kind === 'gtid') return from.gtid;
  if (from.kind === 'end') return answer.probe.gtidHead;
  if (answer.probe.identity.kind === 'mariadb') return answer.gtidThere ?? from.gtid;
  return from.gtid;
}

/** E_SOURCE_CHANGED: what `change` is when nothing handles it (see SourceHandler.onServerChanged). */
export function sourceChangedError(change: ServerChange): SluiceError {
  const { from, now, host, reason } = change;
  return new SluiceError(
    'E_SOURCE_CHANGED',
    `${host} is ${describeServer(now.identity)}, not ${describeServer(from.server)} where ${formatPosition(from.position)} belongs`,
    { details: { reason } },
  );
}
