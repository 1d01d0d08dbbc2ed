import type { Cluster, Redis } from 'ioredis';
import { RedisKeys } from '../../keys/RedisKeys.js';
import type { Checkpoint } from '../checkpoint/Checkpoint.js';
import { hostname, writeStatus } from '../checkpoint/StatusRecord.js';
import { formatPosition, type BinlogPosition } from '../position.js';

/** How often the status record is refreshed (it expires after STATUS_TTL_MS). */
const STATUS_PERIOD_MS = 1000;

/** The daemon's moving parts as the status record shows them, read when it is written. */
export interface StatusSnapshot {
  readonly lastEventAt: number;
  /** The last transaction boundary read. */
  readonly readPosition: BinlogPosition | null;
  readonly checkpoint: Checkpoint | null;
  readonly server: string | null;
  readonly connected: boolean;
  readonly paused: boolean;
  readonly seq: number;
}

export interface StatusReporterOptions {
  readonly redis: Redis | Cluster;
  /** `source.name`. */
  readonly source: string;
  readonly instance: string;
  readonly snapshot: () => StatusSnapshot;
}

/**
 * The daemon's status record (`sluice:status:{source}`, refreshed every
 * second for `sluice status`) and its last error (`sluice:error:{source}`).
 * Best effort: Redis being down is reported by the sink, not here.
 */
export class StatusReporter {
  private readonly startedAt = new Date().toISOString();
  private timer: NodeJS.Timeout | null = null;
  private lastError: { code: string; message: string; at: string } | null = null;

  constructor(private readonly o: StatusReporterOptions) {}

  /** Writes the record now and every second until stop(). */
  start(): void {
    this.timer = setInterval(() => void this.publish(), STATUS_PERIOD_MS);
    this.timer.unref();
    void this.publish();
  }

  /** Stops refreshing the record (it expires, or remove() deletes it). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Deletes the record (a daemon that stopped cleanly); never rejects. */
  async remove(): Promise<void> {
    await this.o.redis.del(RedisKeys.status(this.o.source)).catch(() => 0);
  }

  /** Refreshes `sluice:status:{source}` for `sluice status`; best effort. */
  async publish(): Promise<void> {
    const now = this.o.snapshot();
    const cp = now.checkpoint;
    try {
      await writeStatus(this.o.redis, this.o.source, {
        instance: this.o.instance,
        pid: process.pid,
        host: hostname(),
        startedAt: this.startedAt,
        updatedAt: new Date().toISOString(),
        lastEventAt: now.lastEventAt,
        readPosition: now.readPosition === null ? null : formatPosition(now.readPosition),
        checkpoint: cp ? formatPosition(cp.position) : null,
        server: now.server,
        connected: now.connected,
        paused: now.paused,
        seq: now.seq,
        lastError: this.lastError,
      });
    } catch {
      // Redis is down: the sink reports that; status is advisory.
    }
  }

  /** Remembers the last error for `sluice status`. */
  recordError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
    this.o.redis
      .set(RedisKeys.lastError(this.o.source), JSON.stringify(this.lastError))
      .catch(() => undefined);
  }
}
