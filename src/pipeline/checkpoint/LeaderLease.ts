import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../infra/clock.js';
import { RedisKeys } from '../../keys/RedisKeys.js';
import { luaScript } from './lua.js';

export interface LeaderLeaseOptions {
  readonly redis: Redis | Cluster;
  readonly source: string;
  readonly instance: string;
  /** Lease lifetime; a standby takes over at most this long after the leader stops renewing. */
  readonly leaseMs: number;
  readonly logger: Logger;
  /** Time for renewals and standby waits (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * Leadership of one source among several `sluice run` processes, through a
 * Redis lease (`SET NX PX`, renewed every third of its lifetime) and a
 * fencing token (`INCR` on every acquisition). The checkpoint is written only
 * with the current token (see CheckpointWriter and the checkpoint-set script), so an old leader that wakes up
 * after a pause can still delete keys (harmless) but never move the
 * checkpoint. Redis is the arbiter: no home-made consensus.
 */
export class LeaderLease {
  private readonly log: Logger;
  private renewTimer: Timer | null = null;
  private renewing = false;
  private readonly clock: Clock;
  private stopped = false;
  /** The fencing token of the current leadership, 0 while not leading. */
  token = 0;

  constructor(private readonly options: LeaderLeaseOptions) {
    this.log = options.logger.child({ component: 'leader' });
    this.clock = options.clock ?? systemClock;
  }

  get leaderKey(): string {
    return RedisKeys.leader(this.options.source);
  }

  /** The lease's value while this instance holds it: `<instance>/<token>`. */
  get holder(): string {
    return this.holderOf(this.token);
  }

  private holderOf(token: number): string {
    return `${this.options.instance}/${token}`;
  }

  get fenceKey(): string {
    return RedisKeys.fence(this.options.source);
  }

  /** Resolves once this instance leads (false if stop() was called first). */
  async acquire(): Promise<boolean> {
    const { redis, instance, leaseMs } = this.options;
    let announced = false;
    while (!this.stopped) {
      let token = 0;
      try {
        token = Number(
          await redis.eval(
            luaScript('leader-acquire-2'),
            2,
            this.leaderKey,
            this.fenceKey,
            instance,
            leaseMs,
          ),
        );
      } catch (err) {
        this.log.warn(
          { code: 'E_REDIS', err: (err as Error).message },
          'leader lease: redis unavailable',
        );
      }
      if (this.stopped) {
        // release() ran while the script was in flight: it could not name
        // this acquisition, so a lease just taken is given back here, and a
        // process shutting down neither leads nor waits as a standby.
        if (token > 0) await this.giveBack(this.holderOf(token));
        return false;
      }
      if (token > 0) {
        this.token = token;
        this.log.info({ instance, fence: token }, 'leading: this instance streams the binlog');
        return true;
      }
      if (!announced) {
        announced = true;
        const holder = await redis.get(this.leaderKey).catch(() => null);
        this.log.info({ leader: holder, leaseMs }, 'standby: another instance leads this source');
      }
      // Wake up right when the current lease would expire (a dead leader
      // stops renewing), but look again at least every fifth of a lease.
      const pttl = Number(await redis.pttl(this.leaderKey).catch(() => -1));
      const wait = pttl > 0 ? Math.min(pttl + 5, leaseMs / 5) : 50;
      await this.clock.sleep(Math.max(5, Math.floor(wait)));
    }
    return false;
  }

  /**
   * Renews the lease until stopped; `onLost` runs once if another instance
   * took it. While Redis is unreachable the leader keeps its role: nothing
   * it writes can land then, and once Redis is back it renews, or re-takes a
   * lease that expired meanwhile with a new fencing token (a standby that
   * took it first wins, and this instance's stale token fences it off).
   */
  keep(onLost: (reason: string) => void): void {
    const { redis, instance, leaseMs } = this.options;
    this.renewTimer = this.clock.setInterval(
      () => {
        // One renewal at a time: during an outage they would pile up in the
        // client's queue, each carrying the token of its moment, and replay
        // at once when Redis returns.
        if (this.renewing) return;
        this.renewing = true;
        const sentWith = this.token;
        redis
          .eval(
            luaScript('leader-renew-2'),
            2,
            this.leaderKey,
            this.fenceKey,
            instance,
            leaseMs,
            sentWith,
          )
          .then(
            (reply) => {
              const r = Number(reply);
              if (r < 0) {
                this.token = -r;
                this.log.warn(
                  { fence: this.token },
                  'lease had expired (redis outage?): re-taken with a new fencing token',
                );
              } else if (r === 0 && this.token === sentWith) {
                // (A token that changed meanwhile was adopted from a newer
                // acquisition of this instance: this answer is about the old one.)
                this.lose(onLost, 'the lease expired and another instance took it');
              }
            },
            (err: unknown) => {
              this.log.debug({ err: (err as Error).message }, 'lease renewal failed; retrying');
            },
          )
          .finally(() => {
            this.renewing = false;
          });
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
  }

  /**
   * After a checkpoint write was fenced off: whether this instance holds the
   * lease under the latest acquisition. It may have re-taken its own expired
   * lease (a Redis outage longer than the lease) with a new token while the
   * write carried the old one; then it adopts that token and the write is
   * retried. A lease nobody holds (the primary Redis failed over to never
   * had it, or had it expire) is taken with a new token, which is adopted.
   * False when another instance leads, or the lease names this instance
   * under an older acquisition: the caller halts.
   */
  async confirm(): Promise<boolean> {
    const { redis, instance, leaseMs } = this.options;
    const reply = await redis.eval(
      luaScript('leader-check-2'),
      2,
      this.leaderKey,
      this.fenceKey,
      instance,
      leaseMs,
    );
    const token = Number(reply);
    if (token <= 0) return false;
    if (token !== this.token) {
      this.log.warn(
        { fence: token, was: this.token },
        'fenced write retried with the current token of this instance',
      );
      this.token = token;
    }
    return true;
  }

  private lose(onLost: (reason: string) => void, reason: string): void {
    if (this.renewTimer === null) return;
    this.clock.clearInterval(this.renewTimer);
    this.renewTimer = null;
    this.token = 0;
    this.log.error({ code: 'E_LEADERSHIP_LOST', reason }, 'leadership lost');
    onLost(reason);
  }

  /** Stops renewing and gives the lease up (if still ours), so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.clock.clearInterval(this.renewTimer);
    this.renewTimer = null;
    await this.giveBack(this.holder);
  }

  /** Deletes the lease if `holder` still holds it; Redis errors are ignored (it expires). */
  private async giveBack(holder: string): Promise<void> {
    await this.options.redis
      .eval(luaScript('leader-release-1'), 1, this.leaderKey, holder)
      .catch(() => 0);
  }
}
