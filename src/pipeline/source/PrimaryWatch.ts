import type { Connection } from 'mysql2';
import { SluiceError } from '../../errors/index.js';
import type { Clock, Timer } from '../../infra/clock.js';

/**
 * With several source hosts, the server in use must stay the primary: a
 * planned switchover demotes it (`read_only` on) without closing a single
 * connection, and its binlog simply stops moving while the application
 * writes elsewhere. Every period `@@read_only` is asked on a connection to
 * that server (zongji's control connection); once it is on, `onDemoted`
 * runs (once). A failed query is ignored: a lost connection is reported by
 * the binlog connection. Time comes from the clock.
 */
export class PrimaryWatch {
  private timer: Timer | null = null;
  private fired = false;

  constructor(
    private readonly periodMs: number,
    private readonly clock: Clock,
    /** The connection to ask on, or null while there is none. */
    private readonly connection: () => Connection | null,
    private readonly onDemoted: () => void,
  ) {}

  start(): void {
    this.stop();
    this.fired = false;
    this.timer = this.clock.setInterval(() => this.check(), this.periodMs);
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    const conn = this.connection();
    if (conn === null) return;
    conn.query('SELECT @@GLOBAL.read_only AS ro', (err: unknown, rows: unknown) => {
      if (err || this.timer === null || this.fired) return;
      if (Number((rows as Array<{ ro?: unknown }>)[0]?.ro ?? 0) === 0) return;
      this.fired = true;
      this.stop();
      this.onDemoted();
    });
  }
}

/** Why the source leaves `host` once the watch saw it demoted: it reconnects to the primary. */
export function notPrimaryError(host: string): SluiceError {
  return new SluiceError(
    'E_SOURCE_CONNECT',
    `${host} is read-only (no longer the primary): looking for the primary among the source hosts`,
    { details: { host } },
  );
}
