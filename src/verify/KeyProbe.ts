import type { Cluster, Redis } from 'ioredis';
import { columnKinds, keyValue, type ColumnKind, type KeyParam } from '../db/columnKinds.js';
import type { DbPool } from '../db/createPool.js';
import { loadByIds } from '../db/loadByIds.js';
import { mgetBySlot } from '../infra/clusterCommands.js';
import { isCluster } from '../infra/redis.js';
import type { Observation } from './compareObservation.js';
import type { VerifyResource } from './ResourceMatcher.js';

/** Reads keys the way a reader would meet them: L2, the read API, the database. */
export interface Probe {
  /** One observation per item, in order; Redis and the API are read before the database. */
  read(
    resource: VerifyResource,
    items: readonly { readonly key: string; readonly id: string }[],
  ): Promise<Observation[]>;
}

export interface KeyProbeOptions {
  readonly redis: Redis | Cluster;
  /** The cache module's pool: rows load exactly as the cache loads them. */
  readonly db: DbPool;
  /** Base URL of a `sluice serve` (`http://127.0.0.1:8080`): its answers are compared too. */
  readonly api?: string;
  readonly apiTimeoutMs?: number;
}

const API_CONCURRENCY = 8;

/**
 * The monitor's reads: one MGET, then the API (a few requests at a time),
 * then one `IN` query per batch. Redis and the API come first: an entry read
 * before the row cannot look stale because of a write that commits between
 * the two reads without the later confirmation catching it.
 */
export class KeyProbe implements Probe {
  private readonly kinds = new Map<string, Promise<Map<string, ColumnKind>>>();

  constructor(private readonly options: KeyProbeOptions) {}

  async read(
    resource: VerifyResource,
    items: readonly { readonly key: string; readonly id: string }[],
  ): Promise<Observation[]> {
    const { redis, db } = this.options;
    const keys = items.map((i) => i.key);
    const cached = isCluster(redis) ? await mgetBySlot(redis, keys) : await redis.mget(keys);
    const api = await this.readApi(resource, items);
    const column = resource.key.columns[0] as string;
    const kind = (await this.kindsOf(resource.table)).get(column) ?? 'text';
    const params = new Map<string, KeyParam>();
    for (const item of items) {
      const value = keyValue(kind, item.id);
      if (value !== null && value.text === item.id) params.set(value.text, value.param);
    }
    const rows = await loadByIds(db, resource.table, column, [...params.values()]);
    return items.map((item, i) => ({
      key: item.key,
      cached: cached[i] ?? null,
      api: api[i] ?? null,
      row: rows.get(item.id) ?? null,
    }));
  }

  private kindsOf(table: string): Promise<Map<string, ColumnKind>> {
    let kinds = this.kinds.get(table);
    if (kinds === undefined) {
      kinds = columnKinds(this.options.db, table);
      kinds.catch(() => this.kinds.delete(table)); // retried on the next read
      this.kinds.set(table, kinds);
    }
    return kinds;
  }

  private async readApi(
    resource: VerifyResource,
    items: readonly { readonly id: string }[],
  ): Promise<({ status: number; body: string } | null)[]> {
    const base = this.options.api;
    if (base === undefined) return items.map(() => null);
    const out = items.map((): { status: number; body: string } | null => null);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        const id = (items[i] as { id: string }).id;
        const url = `${base.replace(/\/+$/, '')}/v1/${encodeURIComponent(resource.name)}/${encodeURIComponent(id)}`;
        try {
          const res = await fetch(url, {
            signal: AbortSignal.timeout(this.options.apiTimeoutMs ?? 5000),
          });
          out[i] = { status: res.status, body: await res.text() };
        } catch (err) {
          out[i] = { status: 0, body: (err as Error).message };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(API_CONCURRENCY, items.length) }, worker));
    return out;
  }
}
