import type { Cluster, Redis } from 'ioredis';
import { systemClock, type Clock } from '../infra/clock.js';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { columnKinds, keyValue, type ColumnKind, type KeyParam } from '../db/columnKinds.js';
import type { DbPool } from '../db/createPool.js';
import { loadByIds } from '../db/loadByIds.js';
import { canonicalJson } from '../db/rows.js';
import { masters, mgetBySlot } from '../infra/clusterCommands.js';
import { isCluster } from '../infra/redis.js';
import type { KeyTemplate } from '../keys/KeyTemplate.js';
import { decodeEntry, type Entry } from './codec.js';

/** One API resource to audit: its single-placeholder key and its table. */
export interface AuditResource {
  readonly name: string;
  /** `db.table` */
  readonly table: string;
  readonly key: KeyTemplate;
}

export interface AuditCounts {
  /** Entries compared with the database. */
  checked: number;
  /** Entries that agree with the database (a row equal to the cached one, or absent for `n`). */
  fresh: number;
  /** Entries that disagree: a different row, or a cached row that no longer exists. */
  stale: number;
  /** `n` (negative) entries whose row exists: the API would answer 404 for it. */
  negativeButPresent: number;
  /** Cached rows that no longer exist (included in `stale`). */
  presentButMissing: number;
  /** Values that are not Sluice entries (`v`+JSON or `n`), or keys the cache never writes (`user:007`). */
  foreign: number;
  /** List keys found under the resource's pattern (not audited). */
  lists: number;
  /** Keys of other templates (e.g. `user:email:{email}`) found under the pattern (not audited). */
  skipped: number;
}

export type StaleKind = 'value' | 'presentButMissing' | 'negativeButPresent';

export interface AuditReport {
  readonly resources: Readonly<
    Record<string, AuditCounts & { readonly table: string; readonly pattern: string }>
  >;
  readonly total: AuditCounts;
  /** A few offending keys, for a human to look at. */
  readonly examples: readonly {
    readonly resource: string;
    readonly key: string;
    readonly kind: StaleKind;
  }[];
  readonly elapsedMs: number;
}

export interface CacheAuditorOptions {
  readonly redis: Redis | Cluster;
  /** The cache module's pool (src/db/createPool): rows load exactly as the cache loads them. */
  readonly db: DbPool;
  readonly resources: readonly AuditResource[];
  /** Every other configured template (rule keys); keys they fit better are not audited. */
  readonly otherTemplates: readonly KeyTemplate[];
  /** Resource list keys; counted as `lists`. */
  readonly listTemplates: readonly KeyTemplate[];
  /** At most this many entries per resource (SCAN order is hash order: a fair sample). */
  readonly sample?: number;
  readonly batchSize?: number;
  readonly concurrency?: number;
  /** Suspects are read again after this delay: an entry caught between a commit and its invalidation is not stale. */
  readonly recheckDelayMs?: number;
  readonly logger: Logger;
  /** Waits the recheck delay (default: the system clock). */
  readonly clock?: Clock;
}

interface Item {
  readonly key: string;
  readonly id: string;
}

interface Verdict {
  readonly key: string;
  readonly kind: 'fresh' | 'foreign' | 'vanished' | StaleKind;
}

const SCAN_COUNT = 1000;
const MAX_EXAMPLES = 20;

/**
 * Measures consistency: walks the cached entries of each API resource in L2
 * (SCAN of the key pattern), loads their rows with the cache module's own
 * loader (loadByIds: one `IN` query per batch, rows found by exact key
 * text, normalised as the cache stores them) and compares canonical JSON.
 * Read-only; a few batches run at a time so 100,000 keys take seconds.
 */
export class CacheAuditor {
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly concurrency: number;

  constructor(private readonly options: CacheAuditorOptions) {
    this.log = options.logger.child({ component: 'audit' });
    this.batchSize = options.batchSize ?? 500;
    this.concurrency = options.concurrency ?? 4;
  }

  async run(): Promise<AuditReport> {
    const started = Date.now();
    const resources: Record<string, AuditCounts & { table: string; pattern: string }> = {};
    const total = emptyCounts();
    const examples: { resource: string; key: string; kind: StaleKind }[] = [];
    for (const resource of this.options.resources) {
      const counts = await this.auditResource(resource, (key, kind) => {
        if (examples.length < MAX_EXAMPLES) examples.push({ resource: resource.name, key, kind });
      });
      resources[resource.name] = {
        table: resource.table,
        pattern: resource.key.pattern(),
        ...counts,
      };
      for (const k of Object.keys(total) as (keyof AuditCounts)[]) total[k] += counts[k];
    }
    return { resources, total, examples, elapsedMs: Date.now() - started };
  }

  private async auditResource(
    resource: AuditResource,
    onStale: (key: string, kind: StaleKind) => void,
  ): Promise<AuditCounts> {
    const counts = emptyCounts();
    const column = resource.key.columns[0] as string;
    const kind = (await columnKinds(this.options.db, resource.table)).get(column) ?? 'text';
    const classify = this.classifier(resource.key);
    const sample = this.options.sample ?? Number.POSITIVE_INFINITY;
    const seen = new Set<string>();
    const suspects: Item[] = [];
    // p-limit runs at most `concurrency` checks at once; SCAN waits while as
    // many again are queued, so memory stays bounded whatever the key count.
    const limit = pLimit(this.concurrency);
    const inflight = new Set<Promise<void>>();
    let batch: Item[] = [];
    let audited = 0;

    const tally = (verdicts: readonly Verdict[], items: readonly Item[], final: boolean): void => {
      verdicts.forEach((v, i) => {
        if (v.kind === 'vanished') return; // deleted since SCAN: nothing to compare
        if (v.kind === 'foreign') {
          counts.foreign++;
          return;
        }
        if (v.kind !== 'fresh' && !final) {
          suspects.push(items[i] as Item);
          return;
        }
        counts.checked++;
        if (v.kind === 'fresh') counts.fresh++;
        else {
          if (v.kind === 'negativeButPresent') counts.negativeButPresent++;
          else counts.stale++;
          if (v.kind === 'presentButMissing') counts.presentButMissing++;
          onStale(v.key, v.kind);
        }
      });
    };
    let failure: { error: unknown } | null = null;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const items = batch;
      batch = [];
      const task = limit(() => this.check(resource, column, kind, items)).then(
        (verdicts) => tally(verdicts, items, false),
        (error: unknown) => {
          failure ??= { error };
        },
      );
      inflight.add(task);
      void task.finally(() => inflight.delete(task));
      if (limit.pendingCount >= this.concurrency) await Promise.race(inflight);
      if (failure !== null) throw failure.error;
    };

    // A cluster: every master holds its own share of the keys.
    const client = this.options.redis;
    const nodes = isCluster(client) ? masters(client) : [client];
    scan: for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(
          cursor,
          'MATCH',
          resource.key.pattern(),
          'COUNT',
          SCAN_COUNT,
        );
        cursor = next;
        for (const key of keys) {
          if (seen.has(key)) continue; // SCAN may return a key twice
          seen.add(key);
          const belongs = classify(key);
          if (belongs === 'list') counts.lists++;
          else if (belongs === 'other') counts.skipped++;
          else {
            batch.push({ key, id: belongs.id });
            if (batch.length >= this.batchSize) await flush();
            if (++audited >= sample) break scan;
          }
        }
      } while (cursor !== '0');
    }
    await flush();
    await Promise.all(inflight);
    if (failure !== null) throw (failure as { error: unknown }).error;

    if (suspects.length > 0) {
      await (this.options.clock ?? systemClock).sleep(this.options.recheckDelayMs ?? 200);
      for (let i = 0; i < suspects.length; i += this.batchSize) {
        const items = suspects.slice(i, i + this.batchSize);
        tally(await this.check(resource, column, kind, items), items, true);
      }
    }
    this.log.debug({ resource: resource.name, ...counts }, 'resource audited');
    return counts;
  }

  /** Decides which template a key under the resource's pattern belongs to. */
  private classifier(own: KeyTemplate): (key: string) => { id: string } | 'list' | 'other' {
    const rivals = [
      ...this.options.otherTemplates
        .filter((t) => t.source !== own.source)
        .map((t) => ({ t, list: false })),
      ...this.options.listTemplates
        .filter((t) => t.source !== own.source)
        .map((t) => ({ t, list: true })),
    ];
    const ownScore = specificity(own);
    const column = own.columns[0] as string;
    return (key) => {
      const values = own.match(key);
      if (values === null) return 'other';
      // `user:{id}` also matches `user:email:a@b`: the most specific template wins.
      for (const { t, list } of rivals) {
        if (specificity(t) > ownScore && t.match(key) !== null) return list ? 'list' : 'other';
      }
      return { id: values[column] ?? '' };
    };
  }

  /** One MGET and one `IN` query for a batch of keys. */
  private async check(
    resource: AuditResource,
    column: string,
    kind: ColumnKind,
    items: readonly Item[],
  ): Promise<Verdict[]> {
    const client = this.options.redis;
    const keys = items.map((i) => i.key);
    const raws = isCluster(client) ? await mgetBySlot(client, keys) : await client.mget(keys);
    const params = new Map<string, KeyParam>();
    for (const item of items) {
      const value = keyValue(kind, item.id);
      if (value !== null && value.text === item.id) params.set(value.text, value.param);
    }
    const rows = await loadByIds(
      this.options.db,
      resource.table,
      column,
      [...params.values()],
      this.batchSize,
    );
    return items.map((item, i): Verdict => {
      const raw = raws[i];
      if (raw === null || raw === undefined) return { key: item.key, kind: 'vanished' };
      const entry: Entry | null = decodeEntry(raw);
      // Not an entry, or an id the cache never renders (`user:007` for an integer column).
      if (entry === null || !params.has(item.id)) return { key: item.key, kind: 'foreign' };
      const row = rows.get(item.id);
      if (!entry.present) {
        return { key: item.key, kind: row === undefined ? 'fresh' : 'negativeButPresent' };
      }
      if (row === undefined) return { key: item.key, kind: 'presentButMissing' };
      return {
        key: item.key,
        kind: canonicalJson(entry.value) === canonicalJson(row) ? 'fresh' : 'value',
      };
    });
  }
}

function emptyCounts(): AuditCounts {
  return {
    checked: 0,
    fresh: 0,
    stale: 0,
    negativeButPresent: 0,
    presentButMissing: 0,
    foreign: 0,
    lists: 0,
    skipped: 0,
  };
}

/** Literal characters of a template: more means more specific. */
function specificity(t: KeyTemplate): number {
  return t.source.replace(/\{\{|\}\}/g, '.').replace(/\{[^}]*\}/g, '').length;
}
