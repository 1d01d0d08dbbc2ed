import { ServerInfo } from './ServerInfo.js';

/**
 * One administrative connection to the source server for a long-running
 * process (`verify`'s binlog head, `run`'s retention metrics), reopened on
 * the next call after a failure; the failed call throws.
 */
export class ReconnectingServer {
  private server: Promise<ServerInfo> | null = null;

  constructor(private readonly url: string) {}

  async call<T>(fn: (server: ServerInfo) => Promise<T>): Promise<T> {
    this.server ??= ServerInfo.connect(this.url);
    const current = this.server;
    try {
      return await fn(await current);
    } catch (err) {
      if (this.server === current) this.server = null;
      await current.then((s) => s.close()).catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    const current = this.server;
    this.server = null;
    if (current !== null) await current.then((s) => s.close()).catch(() => undefined);
  }
}
