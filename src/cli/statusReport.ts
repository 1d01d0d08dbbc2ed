import type { Cluster, Redis } from 'ioredis';
import { describeRedis, redactUrl } from '../config/redact.js';
import type { SluiceConfig } from '../config/schema.js';
import { RedisKeys } from '../keys/RedisKeys.js';
import { encodeCheckpoint, type Checkpoint } from '../pipeline/checkpoint/Checkpoint.js';
import { CheckpointStore } from '../pipeline/checkpoint/CheckpointStore.js';
import { readStatus, type DaemonStatus } from '../pipeline/checkpoint/StatusRecord.js';
import { formatPosition, type BinlogPosition } from '../pipeline/position.js';
import { bytesBetween, type BinaryLog } from '../source-admin/ServerInfo.js';

/** The report of `sluice status --json` (stable: scripts read it). */
export interface StatusReport {
  readonly source: string;
  readonly server: string;
  readonly redis: string;
  /** The stored checkpoint in the contract's shape, or null. */
  readonly checkpoint: { file: string; pos: number; gtid?: string; at: string } | null;
  /** `FILE:POS` of the server's binlog end, or null (binary logging off or unreachable). */
  readonly head: string | null;
  readonly lag: { readonly bytes: number | null; readonly seconds: number | null };
  readonly daemon: {
    readonly running: boolean;
    /** The instance that holds the source (one status record per source: it leads). */
    readonly leader: {
      readonly instance: string;
      readonly pid: number;
      readonly host: string;
      readonly startedAt: string;
      readonly updatedAt: string;
      readonly connected: boolean;
      readonly paused: boolean;
      readonly readPosition: string | null;
      /** The server it reads the binlog from (identity and host), null while connecting. */
      readonly server: string | null;
    } | null;
  };
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly at: string;
  } | null;
  /** Parts that could not be read (the rest of the report is still filled). */
  readonly problems: readonly string[];
}

export async function readStored(
  redis: Redis | Cluster,
  source: string,
): Promise<{
  cp: Checkpoint | null;
  daemon: DaemonStatus | null;
  lastError: StatusReport['lastError'];
}> {
  const cp = await new CheckpointStore(redis, source).read();
  const daemon = await readStatus(redis, source);
  const raw = await redis.get(RedisKeys.lastError(source));
  let lastError: StatusReport['lastError'] = null;
  if (raw !== null) {
    try {
      const e = JSON.parse(raw) as Record<string, unknown>;
      const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? ''));
      lastError = { code: text(e.code), message: text(e.message), at: text(e.at) };
    } catch {
      lastError = {
        code: 'E_INTERNAL',
        message: `unreadable error record: ${raw.slice(0, 200)}`,
        at: '',
      };
    }
  }
  return { cp, daemon, lastError };
}

/** Assembles the report; pure (the clock is passed in). */
/** What `status` reads: the server's binlog head and list, the stored records (null: unreadable). */
export interface StatusReads {
  readonly server: {
    readonly head: BinlogPosition | null;
    readonly logs: readonly BinaryLog[];
  } | null;
  readonly stored: Awaited<ReturnType<typeof readStored>> | null;
  readonly problems: readonly string[];
  readonly now: number;
}

/** The report of `config`'s source from what was read (one place for `status` and `status --watch`). */
export function reportFor(config: SluiceConfig, reads: StatusReads): StatusReport {
  return buildReport({
    source: config.source.name,
    server: redactUrl(config.source.url),
    redis: describeRedis(config.redis),
    checkpoint: reads.stored?.cp ?? null,
    head: reads.server?.head ?? null,
    logs: reads.server?.logs ?? null,
    daemon: reads.stored?.daemon ?? null,
    lastError: reads.stored?.lastError ?? null,
    problems: reads.problems,
    now: reads.now,
  });
}

export function buildReport(input: {
  source: string;
  server: string;
  redis: string;
  checkpoint: Checkpoint | null;
  head: BinlogPosition | null;
  logs: readonly BinaryLog[] | null;
  daemon: DaemonStatus | null;
  lastError: StatusReport['lastError'];
  problems: readonly string[];
  now: number;
}): StatusReport {
  const { checkpoint: cp, head, logs, daemon } = input;
  const problems = [...input.problems];
  let bytes: number | null = null;
  if (cp !== null && head !== null && logs !== null) {
    bytes = bytesBetween(logs, cp.position, head);
    if (bytes === null)
      problems.push(
        `checkpoint ${formatPosition(cp.position)}: ${cp.position.file} is not on the server (purged?)`,
      );
  }
  let seconds: number | null = null;
  if (bytes === 0) seconds = 0;
  else if (daemon !== null && daemon.lastEventAt > 0) {
    seconds = Math.max(0, Math.round((input.now - daemon.lastEventAt) / 100) / 10);
  }
  return {
    source: input.source,
    server: input.server,
    redis: input.redis,
    checkpoint: cp && (JSON.parse(encodeCheckpoint(cp)) as StatusReport['checkpoint']),
    head: head && formatPosition(head),
    lag: { bytes, seconds },
    daemon: {
      running: daemon !== null,
      leader:
        daemon === null
          ? null
          : {
              instance: daemon.instance,
              pid: daemon.pid,
              host: daemon.host,
              startedAt: daemon.startedAt,
              updatedAt: daemon.updatedAt,
              connected: daemon.connected,
              paused: daemon.paused,
              readPosition: daemon.readPosition,
              server: daemon.server ?? null,
            },
    },
    lastError: input.lastError,
    problems,
  };
}

/** The human form of the report. */
export function formatReport(r: StatusReport): string[] {
  const cp = r.checkpoint;
  const lines = [
    `source      ${r.source}`,
    `checkpoint  ${cp === null ? 'none stored' : `${cp.file}:${cp.pos}${cp.gtid === undefined ? '' : ` (gtid ${cp.gtid})`}${cp.at ? `, written ${cp.at}` : ''}`}`,
    `server      ${r.head ?? 'unknown'} (${r.server})`,
    `lag         ${r.lag.bytes === null ? 'unknown' : `${r.lag.bytes} bytes`}, ${r.lag.seconds === null ? 'seconds unknown' : `${r.lag.seconds} s`}`,
  ];
  const d = r.daemon.leader;
  lines.push(
    d === null
      ? 'daemon      not running'
      : `daemon      running: ${d.instance} (pid ${d.pid} on ${d.host}), ${d.connected ? 'connected' : 'connecting'}${d.paused ? ', paused (backpressure)' : ''}, since ${d.startedAt}`,
  );
  if (d?.server != null) lines.push(`reading     ${d.server}`);
  const e = r.lastError;
  lines.push(`last error  ${e === null ? 'none' : `${e.code} at ${e.at}: ${e.message}`}`);
  for (const p of r.problems) lines.push(`problem     ${p}`);
  return lines;
}
