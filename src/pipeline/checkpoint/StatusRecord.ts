import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { RedisKeys } from '../../keys/RedisKeys.js';

/**
 * What a running daemon publishes about itself under `sluice:status:{source}`
 * (JSON, refreshed every second, expires 5 s after the daemon stops
 * refreshing it). `sluice status` and `sluice position set` read it.
 */
export interface DaemonStatus {
  readonly instance: string;
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Server time of the last binlog event read (ms since epoch), 0 if none yet. */
  readonly lastEventAt: number;
  /** The binlog position last read (may be ahead of the checkpoint). */
  readonly readPosition: string | null;
  readonly checkpoint: string | null;
  /** The server the binlog is read from (identity and host), null before the first answered. */
  readonly server?: string | null;
  readonly connected: boolean;
  readonly paused: boolean;
  readonly seq: number;
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly at: string;
  } | null;
}

export const STATUS_TTL_MS = 5000;

export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

export async function writeStatus(
  redis: Redis | Cluster,
  source: string,
  status: DaemonStatus,
): Promise<void> {
  await redis.set(RedisKeys.status(source), JSON.stringify(status), 'PX', STATUS_TTL_MS);
}

export async function readStatus(
  redis: Redis | Cluster,
  source: string,
): Promise<DaemonStatus | null> {
  const raw = await redis.get(RedisKeys.status(source));
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as DaemonStatus;
  } catch {
    return null;
  }
}

export { hostname };
