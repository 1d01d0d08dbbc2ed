import { EventEmitter } from 'node:events';
import { Redis, type Cluster } from 'ioredis';
import { backoffDelay, REDIS_BACKOFF } from '../infra/backoff.js';
import { systemClock, type Clock, type Timer } from '../infra/clock.js';
import { readRepliesInline } from '../infra/redis.js';
import type { SubscriberConnection } from './BusSubscriber.js';

export interface ClusterBusSubscriberOptions {
  /** CLIENT SETNAME of the subscription connection (default `sluice:subscriber`). */
  readonly connectionName?: string;
  /** Reconnect attempts to one node before moving to another node (default 3). */
  readonly hopAfter?: number;
  /** How long `subscribe` waits for the cluster client to know a node (default 5000 ms). */
  readonly nodeWaitMs?: number;
  readonly clock?: Clock;
}

/**
 * The invalidation bus's subscription on a Redis Cluster. A PUBLISH on any
 * node reaches the subscribers of every node, so one plain connection to one
 * node is enough. Unlike the Cluster client's own subscriber, which moves
 * between nodes without telling anyone, this one emits the events of a plain
 * connection ('message', 'close', 'reconnecting', 'ready'), so the bus sees
 * every interruption: L1 is bypassed while it is down, and the bus
 * resubscribes and clears L1 when it is back (rule 3). When its node stays
 * unreachable for `hopAfter` reconnect attempts (a failed master replaced
 * by its replica), it connects to another node the cluster client knows;
 * the bus sees that as one more reconnect.
 */
export class ClusterBusSubscriber extends EventEmitter implements SubscriberConnection {
  private conn: Redis | null = null;
  /** `host:port` of the node that failed last (avoided on the next pick). */
  private failed: string | null = null;
  private retryTimer: Timer | null = null;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: ClusterBusSubscriberOptions = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.connect();
  }

  /** `host:port` of the node currently subscribed to, null while none. */
  get node(): string | null {
    return this.conn === null ? null : `${this.conn.options.host}:${this.conn.options.port}`;
  }

  async subscribe(channel: string): Promise<unknown> {
    return (await this.connection()).subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<unknown> {
    return this.conn === null ? 0 : this.conn.unsubscribe(channel);
  }

  /** Closes the connection for good; idempotent. */
  disconnect(): void {
    this.closed = true;
    this.clock.clearTimeout(this.retryTimer);
    this.conn?.disconnect();
    this.conn = null;
  }

  /**
   * The current connection once it is ready, waiting (bounded) for the
   * cluster client to know a node and for the node to answer. Not before
   * 'ready': a SUBSCRIBE sent while ioredis still runs its ready check
   * (INFO) puts the connection in subscriber mode under it, and it drops.
   */
  private async connection(): Promise<Redis> {
    const deadline = this.clock.now() + (this.options.nodeWaitMs ?? 5000);
    for (;;) {
      if (this.closed) throw new Error('subscriber closed');
      if (this.conn?.status === 'ready') return this.conn;
      if (this.clock.now() >= deadline) {
        throw new Error(`redis cluster: no node ready to subscribe on (${this.node ?? 'none'})`);
      }
      await this.clock.sleep(20);
    }
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const nodes = this.cluster
      .nodes('all')
      .flatMap(({ options: o }) =>
        o.host === undefined || o.port === undefined ? [] : [{ host: o.host, port: o.port }],
      );
    const others = nodes.filter((o) => `${o.host}:${o.port}` !== this.failed);
    const pool = others.length > 0 ? others : nodes;
    const target = pool[Math.floor(Math.random() * pool.length)];
    if (target === undefined) {
      // The cluster client has not discovered any node yet.
      this.retryTimer = this.clock.setTimeout(() => this.connect(), 100);
      return;
    }
    const base = this.cluster.options.redisOptions ?? {};
    const hopAfter = this.options.hopAfter ?? 3;
    const conn = readRepliesInline(
      new Redis({
        host: target.host,
        port: target.port,
        ...(base.username === undefined ? {} : { username: base.username }),
        ...(base.password === undefined ? {} : { password: base.password }),
        ...(base.tls === undefined ? {} : { tls: base.tls }),
        connectionName: this.options.connectionName ?? 'sluice:subscriber',
        maxRetriesPerRequest: 1,
        // null ends the connection: then another node is tried.
        retryStrategy: (times) => (times > hopAfter ? null : backoffDelay(times, REDIS_BACKOFF)),
      }),
    );
    conn.on('error', () => undefined); // state changes arrive as events below
    conn.on('message', (channel: string, message: string) =>
      this.emit('message', channel, message),
    );
    for (const event of ['ready', 'close', 'reconnecting'] as const) {
      conn.on(event, () => {
        if (this.conn === conn) this.emit(event);
      });
    }
    conn.once('end', () => {
      if (this.conn !== conn || this.closed) return;
      this.failed = `${target.host}:${target.port}`;
      this.conn = null;
      this.emit('close');
      this.retryTimer = this.clock.setTimeout(() => this.connect(), 100);
    });
    this.conn = conn;
  }
}
