import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import type { Clock, Timer } from '../../infra/clock.js';
import { luaScript } from './lua.js';

/** Which server and dataset answers for the checkpoint (primary-identity-1). */
export interface PrimaryIdentity {
  /** `master`, or `slave` for a replica. */
  readonly role: string;
  /** Changes with every start of the server (a restart may have lost writes). */
  readonly runId: string;
  /** Changes with every promotion and full resync (another dataset). */
  readonly replid: string;
}

/** The text checkpoint writes carry and the checkpoint-set script compares: `run_id:replid`. */
export function identityText(id: PrimaryIdentity): string {
  return `${id.runId}:${id.replid}`;
}

/** Asks the server that holds `checkpointKey` (its node, on a cluster) who it is. */
export async function probePrimary(
  redis: Redis | Cluster,
  checkpointKey: string,
): Promise<PrimaryIdentity> {
  const reply = await redis.eval(luaScript('primary-identity-1'), 1, checkpointKey);
  if (!Array.isArray(reply) || reply.length < 3 || String(reply[1]) === '') {
    throw new Error(`primary identity: unexpected reply ${JSON.stringify(reply)}`);
  }
  const [role, runId, replid] = reply.map(String) as [string, string, string];
  return { role, runId, replid };
}

/** A primary change, as reported to the policy. */
export interface PrimaryChange {
  readonly from: PrimaryIdentity;
  readonly to: PrimaryIdentity;
  /** What looked: `ready` (a (re)connection) or `poll`. */
  readonly reason: string;
}

export interface PrimaryWatchOptions {
  /** Reads the identity of the server holding the checkpoint (probePrimary). */
  readonly probe: () => Promise<PrimaryIdentity>;
  /** The client: its `ready` event (every (re)connection) triggers a check. */
  readonly connection?: {
    on(event: 'ready', listener: () => void): unknown;
    off(event: 'ready', listener: () => void): unknown;
  };
  /** Also checks this often (a cluster follows a failover without a `ready` of its own). */
  readonly pollMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The primary or its dataset changed: called once per new identity until `adopt`. */
  readonly onChange: (change: PrimaryChange) => void;
}

/**
 * Watches which Redis primary and dataset the daemon writes to. Redis
 * replication is asynchronous: a primary can acknowledge deletes and a
 * checkpoint and die before its replica has them, and a restart can reload
 * an older snapshot. Either way the server answering afterwards is another
 * one (run id, replication id), and what it lacks is exactly what its own
 * stored checkpoint has not passed (replication and persistence are
 * ordered). The watch notices the change on every (re)connection and every
 * `pollMs`; the policy (RedisPolicy.onRedisPrimaryChanged) re-streams from
 * that checkpoint and calls `adopt`. Until then `expected` stays the old
 * identity, which every checkpoint write carries: the new primary refuses
 * them (checkpoint-set script), even those the client resends on its own.
 */
export class PrimaryWatch {
  private readonly log: Logger;
  private known: PrimaryIdentity | null = null;
  /** The last identity reported as a change and not yet adopted. */
  private reported: string | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private timer: Timer | null = null;
  private stopped = false;
  private readonly onReady = (): void => void this.check('ready');

  constructor(private readonly options: PrimaryWatchOptions) {
    this.log = options.logger.child({ component: 'primary-watch' });
  }

  /** The identity checkpoint writes must find; null until the first probe answered. */
  get expected(): string | null {
    return this.known === null ? null : identityText(this.known);
  }

  /**
   * Learns the current primary and starts watching. Redis unreachable: the
   * first identity is taken at the first check that gets an answer.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.options.connection?.on('ready', this.onReady);
    this.timer = this.options.clock.setInterval(() => void this.check('poll'), this.options.pollMs);
    try {
      await this.adopt();
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'redis primary unknown yet; checked on connect',
      );
    }
  }

  /**
   * Probes now and takes the answer as the primary from now on (the policy,
   * once nothing built from the old primary's acknowledgements is sent any
   * more). Rejects when Redis is unreachable or answers from a replica.
   */
  async adopt(): Promise<PrimaryIdentity> {
    const id = await this.options.probe();
    if (id.role !== 'master') {
      throw new SluiceError('E_REDIS', `redis answers as a ${id.role}, not a primary`);
    }
    this.known = id;
    this.reported = null;
    return id;
  }

  /** One check (coalesced: a check asked for while one runs runs once more after it). */
  check(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.checking !== null) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.probeOnce(reason).finally(() => {
      this.checking = null;
      if (this.again) {
        this.again = false;
        void this.check(reason);
      }
    });
    return this.checking;
  }

  /** Stops watching; idempotent. */
  stop(): void {
    this.stopped = true;
    this.options.connection?.off('ready', this.onReady);
    this.options.clock.clearInterval(this.timer);
    this.timer = null;
  }

  private async probeOnce(reason: string): Promise<void> {
    let id: PrimaryIdentity;
    try {
      id = await this.options.probe();
    } catch (err) {
      this.log.debug({ err: (err as Error).message, reason }, 'primary check failed');
      return;
    }
    if (this.stopped) return;
    if (id.role !== 'master') {
      // Writes fail (READONLY) and the client reconnects; look again then.
      this.log.warn({ role: id.role, reason }, 'redis answers as a replica; waiting for a primary');
      return;
    }
    if (this.known === null) {
      this.known = id;
      return;
    }
    const text = identityText(id);
    if (text === identityText(this.known) || text === this.reported) return;
    this.reported = text;
    const change = { from: this.known, to: id, reason };
    this.log.warn(
      {
        code: 'E_REDIS_PRIMARY_CHANGED',
        from: identityText(change.from),
        to: text,
        reason,
      },
      'redis primary changed',
    );
    this.options.onChange(change);
  }
}
