import { SluiceError } from '../../errors/index.js';
import type { Clock, Timer } from '../../infra/clock.js';

/**
 * Notices a binlog connection that went silent. The server sends a
 * heartbeat after every idle `periodMs` (`@master_heartbeat_period`), so
 * more than three periods without an event or a heartbeat means the
 * connection is stalled (a half-open TCP connection never errors by
 * itself). While the source is paused for backpressure silence is expected
 * and does not count. Checked once per period; time from the clock.
 */
export class StallDetector {
  /** When the silence started; set by `start()`, before the first check. */
  private last = 0;
  private timer: Timer | null = null;

  constructor(
    private readonly periodMs: number,
    private readonly clock: Clock,
    /** True while silence is expected (the source paused reading). */
    private readonly paused: () => boolean,
    private readonly onStall: (silentMs: number) => void,
  ) {}

  /** Something arrived (or reading resumed): the silence starts over. */
  activity(): void {
    this.last = this.clock.now();
  }

  /** Starts checking; restarts the silence. */
  start(): void {
    this.stop();
    this.activity();
    this.timer = this.clock.setInterval(() => this.check(), this.periodMs);
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (this.paused()) {
      this.activity();
      return;
    }
    const silentMs = this.clock.now() - this.last;
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
