import type { Logger } from 'pino';

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
}
