import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder in front of a real server, for outage tests that must not
 * stop the shared service: `down()` closes the listening port and cuts every
 * connection (clients see ECONNRESET, then ECONNREFUSED), `up()` listens on
 * the same port again. `retarget()` moves the address to another server, as
 * a VIP, a DNS name or HAProxy does in a failover.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Client connections accepted since the start. */
  accepted = 0;
  /** Bytes the server sent that were handed on to clients (flushed to their sockets). */
  bytesToClients = 0;
  /** Per accepted connection (1 = the first since the start), ms by which the server's replies are held. */
  private readonly slow = new Map<number, number>();
  private constructor(
    private target: { host: string; port: number },
    private port: number,
  ) {}

  /** Starts forwarding from `listenPort` (default: a free one) to `host:port`. */
  static async start(host: string, port: number, listenPort = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy({ host, port }, listenPort);
    await proxy.up();
    return proxy;
  }

  get listenPort(): number {
    return this.port;
  }

  /** Client connections open now. */
  get connections(): number {
    let n = 0;
    for (const s of this.sockets) if (s.localPort === this.port) n++;
    return n;
  }

  /**
   * Holds every chunk the server sends on the `nth` connection accepted
   * since the start (counting as `accepted` does) for `ms` before handing it
   * on, in order: a slow link for one connection.
   */
  slowDown(nth: number, ms: number): void {
    this.slow.set(nth, ms);
  }

  /** Accepts connections again (on the same port). */
  async up(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer((client) => {
      this.accepted++;
      const delay = this.slow.get(this.accepted) ?? 0;
      const { host, port } = this.target;
      const upstream = connect(port, host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      // upstream.pipe(client), counting what reached the client's socket.
      const forward = (chunk: Buffer): void => {
        const more = client.write(chunk, () => (this.bytesToClients += chunk.length));
        if (!more) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      };
      upstream.on('data', (chunk: Buffer) => {
        if (delay === 0) {
          forward(chunk);
          return;
        }
        // Held, in order: nothing more is read until this chunk went on.
        upstream.pause();
        setTimeout(() => {
          if (client.destroyed) return;
          forward(chunk);
          if (client.writableNeedDrain === false) upstream.resume();
        }, delay);
      });
      upstream.on('end', () => client.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Refuses new connections and cuts the open ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server !== null) await new Promise<void>((r) => server.close(() => r()));
  }

  /** New connections go to `host:port`; open ones are cut (they belonged to the old server). */
  retarget(host: string, port: number): void {
    this.target = { host, port };
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  close(): Promise<void> {
    return this.down();
  }
}
