import type { Registry } from 'prom-client';
import type { Clock } from '../infra/clock.js';
import { scrapedGauge } from '../infra/scrapedMetrics.js';
import type { BinlogPosition } from '../pipeline/position.js';
import { bytesBetween, type BinaryLog } from './ServerInfo.js';

/** Where the stored checkpoint stands against the binlogs the server still keeps. */
export interface Retention {
  /** Binary logs the server keeps (SHOW BINARY LOGS). */
  readonly files: number;
  /**
   * Files between the oldest one kept and the checkpoint's: 0 when the
   * checkpoint is in the oldest file (the next purge removes it), −1 when its
   * file is gone already or no checkpoint is stored.
   */
  readonly marginFiles: number;
  /** Bytes of binlog from the checkpoint to the server's head; −1 when unknown. */
  readonly lagBytes: number;
}

/** Pure: the retention figures of a checkpoint against SHOW BINARY LOGS and the head. */
export function retentionOf(
  logs: readonly BinaryLog[],
  checkpoint: BinlogPosition | null,
  head: BinlogPosition | null,
): Retention {
  const index = checkpoint === null ? -1 : logs.findIndex((l) => l.file === checkpoint.file);
  const lag = checkpoint === null || head === null ? null : bytesBetween(logs, checkpoint, head);
  return { files: logs.length, marginFiles: index, lagBytes: lag ?? -1 };
}

export interface RetentionSource {
  binaryLogs(): Promise<BinaryLog[]>;
  head(): Promise<BinlogPosition | null>;
  checkpoint(): Promise<BinlogPosition | null>;
}

/**
 * Polls the server's binlogs and the stored checkpoint (every `intervalMs`)
 * and exposes `sluice_source_*` gauges, so an alert fires before a purge
 * takes the checkpoint (E_POSITION_LOST) and while the lag in bytes grows.
 * A failed poll keeps the last figures and is retried at the next interval.
 */
export class BinlogRetentionWatch {
  private last: Retention | null = null;
  private timer: ReturnType<Clock['setInterval']> | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    private readonly source: RetentionSource,
    private readonly options: {
      readonly clock: Clock;
      readonly intervalMs: number;
      readonly onError?: (err: Error) => void;
    },
  ) {}

  get current(): Retention | null {
    return this.last;
  }

  start(): void {
    void this.poll();
    this.timer = this.options.clock.setInterval(() => void this.poll(), this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.options.clock.clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  /** One poll now (also what the timer runs); concurrent calls share it. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const checkpoint = await this.source.checkpoint();
        const logs = await this.source.binaryLogs();
        const head = await this.source.head();
        this.last = retentionOf(logs, checkpoint, head);
      } catch (err) {
        this.options.onError?.(err as Error);
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  /** Registers the gauges on `registry` (read at scrape time). */
  register(registry: Registry): void {
    const current = (): Retention | null => this.last;
    const gauge = (name: string, help: string, read: (r: Retention) => number): void =>
      scrapedGauge(registry, name, help, () => {
        const r = current();
        return r === null ? -1 : read(r);
      });
    gauge(
      'sluice_source_binlog_files',
      'Binary logs the source server keeps (SHOW BINARY LOGS); -1 before the first poll.',
      (r) => r.files,
    );
    gauge(
      'sluice_source_checkpoint_margin_files',
      "Binlog files between the oldest one kept and the checkpoint's (0: the next purge takes it; -1: gone or none).",
      (r) => r.marginFiles,
    );
    gauge(
      'sluice_source_lag_bytes',
      "Bytes of binlog from the stored checkpoint to the server's head (-1: unknown).",
      (r) => r.lagBytes,
    );
  }
}
