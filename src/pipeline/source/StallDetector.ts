import { SluiceError } from '../../errors/index.js';
import type { Clock, Timer } from '../../infra/clock.js';

/**
 * Notices a binlog connection that went silent. The server sends a
 * heartbeat after every idle `periodMs` (`@master_heartbeat_period`), so
 * more than three periods without an event or a heartbeat means the
 * connection is stalled (a half-open TCP connection never errors by
 * itself). While the source is paused for backpressure silence is expected
 * and does not count. Checked once per period; time from the clock.
 *
 * `activity()` runs for every binlog event, so it only raises a flag: the
 * check that finds it raised starts the silence over. Silence is therefore
 * counted from the first check after the last activity (at most one period
 * late), and a stall is reported after three to four periods.
 */
export class StallDetector {
  /** When the silence started: the start, or the last check that found activity. */
  private last = 0;
  private active = false;
  private timer: Timer | null = null;

  constructor(
    private readonly periodMs: number,
    private readonly clock: Clock,
    /** True while silence is expected (the source paused reading). */
    private readonly paused: () => boolean,
    private readonly onStall: (silentMs: number) => void,
  ) {}

  /** Something arrived (or reading resumed): the silence starts over at the next check. */
  activity(): void {
    this.active = true;
  }

  /** Starts checking; restarts the silence. */
  start(): void {
    this.stop();
    this.active = false;
    this.last = this.clock.now();
    this.timer = this.clock.setInterval(() => this.check(), this.periodMs);
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    const now = this.clock.now();
    if (this.active || this.paused()) {
      this.active = false;
      this.last = now;
      return;
    }
    const silentMs = now - this.last;
    if (silentMs > 3 * this.periodMs) {
      this.stop();
      this.onStall(silentMs);
    }
  }
}

/** E_SOURCE_STALLED: nothing arrived for `silentMs` on a connection with heartbeats every `periodMs`. */
export function stalledError(silentMs: number, periodMs: number): SluiceError {
  return new SluiceError(
    'E_SOURCE_STALLED',
    `no binlog event or heartbeat for ${silentMs} ms (3 periods = ${3 * periodMs} ms)`,
    { details: { silentMs } },
  );
}
