import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ColumnLookup } from '../db/schemaLookup.js';
import type { Clock } from '../infra/clock.js';
import type { MappingRule } from './mapping/KeyMapper.js';
import type { ReplicaWait } from './transport/Transport.js';

/** How often the Redis primary is checked besides every (re)connection (see PrimaryWatch). */
export const PRIMARY_POLL_MS = 1000;

export interface InvalidatorOptions {
  readonly source: {
    readonly name: string;
    readonly url: string;
    readonly serverId: number;
    readonly startFrom: string;
    readonly onPositionLost: 'fail' | 'flush';
    readonly onSchemaMismatch: 'fail' | 'flush';
    /** Another server answers and no GTID leads to the checkpoint there (default fail). */
    readonly onSourceChanged?: 'fail' | 'flush';
    readonly heartbeatMs: number;
    readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  };
  readonly invalidation: {
    readonly channel: string;
    readonly batchMaxKeys: number;
    readonly batchMaxDelayMs: number;
    readonly maxInFlightKeys: number;
    readonly heartbeatMs: number;
  };
  readonly rules: readonly MappingRule[];
  readonly redis: Redis | Cluster;
  /** `redis.waitReplicas` (> 0) and its timeout: a round counts once replicas have it. */
  readonly replicaWait?: ReplicaWait | null;
  /** How often the Redis primary is checked besides every (re)connection (default PRIMARY_POLL_MS). */
  readonly primaryPollMs?: number;
  readonly logger: Logger;
  /** This process's instance id (status record, leader lease). */
  readonly instance?: string;
  /**
   * High availability: checkpoint writes are fenced with the leader's token;
   * `confirm` answers, after a fenced-off write, whether this instance still
   * leads (it may have re-taken its own lease with a new token).
   */
  readonly fence?: {
    readonly key: string;
    readonly token: () => number;
    readonly confirm?: () => Promise<boolean>;
  };
  /** Live column lookup, for re-checking templates after ALTER TABLE. */
  readonly columns: ColumnLookup;
  /** The delayed second delete (`invalidation.secondDeleteMs > 0`): gets every acknowledged batch. */
  readonly secondDelete?: SecondDeleteScheduler;
  /** Time for the batching delay, checkpoint coalescing and heartbeats (tests inject one). */
  readonly clock?: Clock;
}

/** Schedules a second delete of keys whose first delete Redis acknowledged; must not block. */
export interface SecondDeleteScheduler {
  schedule(keys: readonly string[]): void;
}

/** Counters and times for `status`, metrics and tests. */
export interface InvalidatorStats {
  rows: number;
  transactions: number;
  lastEventAt: number;
  connected: boolean;
  /** Times another server answered and the stream followed the checkpoint there by GTID. */
  sourceChanges: number;
  /** Re-streams after a Redis primary change (RedisPolicy.onRedisPrimaryChanged). */
  redisPrimaryChanges: number;
}
