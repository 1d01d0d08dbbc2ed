import type { Logger } from 'pino';
import { onShutdownSignal } from './signals.js';

/**
 * The components a command started, stopped in reverse start order. Each
 * stop runs once and its failure is logged without keeping the others from
 * stopping; `stopAll` is idempotent.
 */
export class Lifecycle {
  private readonly steps: Array<[string, () => Promise<void>]> = [];

  constructor(private readonly log: Logger) {}

  /** Registers what stops a component that has just started. */
  add(name: string, stop: () => Promise<void> | void): void {
    this.steps.push([name, async () => stop()]);
  }

  /** Stops everything registered so far, newest first. */
  async stopAll(): Promise<void> {
    for (const [name, stop] of this.steps.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        this.log.warn({ step: name, err: (err as Error).message }, 'stop step failed');
      }
    }
  }

  /**
   * Runs until SIGINT/SIGTERM, then stops everything registered (bounded by
   * onShutdownSignal's hard timeout). `logger` is the process logger.
   */
  async runUntilSignal(logger: Logger): Promise<void> {
    let stopped!: () => void;
    const done = new Promise<void>((resolve) => (stopped = resolve));
    const removeSignals = onShutdownSignal(logger, async () => {
      await this.stopAll();
      stopped();
    });
    try {
      await done;
    } finally {
      removeSignals();
    }
  }
}
