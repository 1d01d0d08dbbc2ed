import type { Logger } from 'pino';
import { decodeMessage } from '../bus/codec.js';
import type { Clock } from '../infra/clock.js';
import { globToRegExp } from '../keys/glob.js';
import { formatPosition, type BinlogPosition } from '../pipeline/position.js';
import { CheckpointWaiter } from './CheckpointWaiter.js';
import { CheckSchedule, type DueCheck, type Sample } from './CheckSchedule.js';
import {
  disagreements,
  sameAnswer,
  sameRow,
  type Layer,
  type Observation,
} from './compareObservation.js';
import { ConsistencyTally, windowLabel } from './ConsistencyTally.js';
import type { Probe } from './KeyProbe.js';
import type { ResourceMatcher, VerifyResource } from './ResourceMatcher.js';

/** The bus subscription, as the monitor uses it (an ioredis connection in subscriber mode). */
export interface MonitorBus {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'close' | 'reconnecting', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
}

/** Where the binlog and the daemon stand: what decides whether a mismatch may still be in flight. */
export interface ReplicationProgress {
  /** The server's binlog end (read after the rows: every write the read saw is before it). */
  head(): Promise<BinlogPosition | null>;
  /** The daemon's stored checkpoint: every invalidation before it is acknowledged by Redis. */
  checkpoint(): Promise<BinlogPosition | null>;
  /** Resolves once every message Redis published before the call has reached the bus subscription. */
  sync(): Promise<void>;
}

export interface ConsistencyMonitorOptions {
  readonly bus: MonitorBus;
  readonly channel: string;
  readonly matcher: ResourceMatcher;
  readonly resources: readonly VerifyResource[];
  readonly probe: Probe;
  readonly progress: ReplicationProgress;
  /** Check each sample this long after its invalidation (one check per window). */
  readonly windowsMs: readonly number[];
  /** Share of invalidated resource keys sampled (0..1]. */
  readonly sampleRate: number;
  /** At most this many checks wait for their window; further samples are dropped. */
  readonly maxPending: number;
  /** The nines gauge covers checks decided within this horizon. */
  readonly horizonMs: number;
  /** How long a mismatch may wait for the daemon's checkpoint to pass it before it is left unconfirmed. */
  readonly confirmTimeoutMs: number;
  /** Pause between the checkpoint passing a mismatch and the second read (as `audit`'s re-read). */
  readonly recheckDelayMs?: number;
  readonly clock: Clock;
  readonly random?: () => number;
  readonly logger: Logger;
}

/** Outcomes of the checks of one window (counters since start). */
export interface WindowStats {
  /** Checks decided: consistent, resolved in flight, or confirmed stale. */
  checks: number;
  /** Confirmed stale, by the layer that served it (a check may count in both). */
  stale: { l2: number; api: number };
  /** Checks stale in at least one layer (what the nines count). */
  staleChecks: number;
  /** Mismatches at the first read that a newer write explained (never reported as stale). */
  inFlight: number;
  /** Mismatches the daemon's checkpoint did not pass within confirmTimeoutMs (not decided). */
  unconfirmed: number;
  /** Checks that failed (Redis, database or API error). */
  errors: number;
}

/** A key being confirmed: set when any invalidation of it arrives. */
interface Watch {
  moved: boolean;
}

const BATCH = 500;
const DEFAULT_RECHECK_MS = 200;

/**
 * `sluice verify`: measures cache consistency all the time. It samples the
 * API resources' keys the bus invalidates and, `window` after each
 * invalidation, checks that Redis (and, with `--api`, a `sluice serve`) holds
 * no entry that disagrees with the database.
 *
 * A disagreement is only reported once it cannot be a write in flight: the
 * first read takes L2, the API and the row, then the server's binlog head; the
 * monitor waits until the daemon's checkpoint passes that head (every write
 * the read could have seen is then invalidated and published) and its own
 * subscription has caught up, then reads again. The entry is stale only if no
 * invalidation of the key arrived since before the first read, and both reads
 * saw the same entry and the same row. A write committed after the first read
 * invalidates the key (or changes the row) and the mismatch counts as in flight.
 */
export class ConsistencyMonitor {
  private readonly log: Logger;
  private readonly schedule: CheckSchedule;
  readonly tally: ConsistencyTally;
  private readonly watches = new Map<string, Set<Watch>>();
  private readonly checkpoint: CheckpointWaiter;
  private readonly confirming = new Set<Promise<void>>();
  private timer: ReturnType<Clock['setInterval']> | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;
  private readonly random: () => number;
  readonly windowsMs: readonly number[];
  readonly stats = { messages: 0, ignored: 0, samples: 0, dropped: 0 };
  readonly windows = new Map<number, WindowStats>();

  constructor(private readonly options: ConsistencyMonitorOptions) {
    this.log = options.logger.child({ component: 'verify' });
    this.windowsMs = [...new Set(options.windowsMs)].sort((a, b) => a - b);
    this.schedule = new CheckSchedule(this.windowsMs, options.maxPending);
    this.tally = new ConsistencyTally(this.windowsMs, {
      horizonMs: options.horizonMs,
      clock: options.clock,
    });
    this.random = options.random ?? Math.random;
    this.checkpoint = new CheckpointWaiter(
      () => options.progress.checkpoint(),
      options.clock,
      (err) => this.log.debug({ err: err.message }, 'checkpoint read failed'),
    );
    for (const w of this.windowsMs) {
      this.windows.set(w, {
        checks: 0,
        stale: { l2: 0, api: 0 },
        staleChecks: 0,
        inFlight: 0,
        unconfirmed: 0,
        errors: 0,
      });
    }
  }

  /** Checks waiting for their window. */
  get pending(): number {
    return this.schedule.size;
  }

  /** Mismatches waiting for confirmation. */
  get suspects(): number {
    return this.confirming.size;
  }

  async start(): Promise<void> {
    const { bus, channel } = this.options;
    bus.on('message', (ch, raw) => {
      if (ch === channel) this.onMessage(raw);
    });
    // Invalidations published while the subscription is down are never
    // seen: whatever is under confirmation may have been invalidated.
    const lost = (): void => {
      for (const set of this.watches.values()) for (const w of set) w.moved = true;
    };
    bus.on('close', lost);
    bus.on('reconnecting', lost);
    await bus.subscribe(channel);
    const tickMs = Math.max(10, Math.min(250, Math.floor((this.windowsMs[0] ?? 1000) / 4)));
    this.timer = this.options.clock.setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = null));
    }, tickMs);
    this.log.info(
      {
        channel,
        windows: this.windowsMs.map(windowLabel),
        sampleRate: this.options.sampleRate,
        resources: this.options.resources.map((r) => r.name),
      },
      'verifying',
    );
  }

  /** Stops sampling and checking; pending confirmations are abandoned. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.clock.clearInterval(this.timer);
    this.checkpoint.close();
    await this.options.bus.unsubscribe(this.options.channel).catch(() => undefined);
    await this.ticking;
    await Promise.all(this.confirming);
  }

  private onMessage(raw: string): void {
    const msg = decodeMessage(raw);
    if (msg === null) {
      this.stats.ignored++;
      return;
    }
    if (msg.type === 'hb') return;
    this.stats.messages++;
    // Any invalidation of a key under confirmation means a write was in flight.
    if (this.watches.size > 0) {
      if (msg.flush) {
        for (const set of this.watches.values()) for (const w of set) w.moved = true;
      } else {
        for (const key of msg.keys) {
          const set = this.watches.get(key);
          if (set !== undefined) for (const w of set) w.moved = true;
        }
        if (msg.patterns.length > 0) {
          const res = msg.patterns.map((p) => globToRegExp(p));
          for (const [key, set] of this.watches) {
            if (res.some((re) => re.test(key))) for (const w of set) w.moved = true;
          }
        }
      }
    }
    if (this.closed) return;
    const now = this.options.clock.now();
    for (const key of msg.keys) {
      if (this.options.sampleRate < 1 && this.random() >= this.options.sampleRate) continue;
      const hit = this.options.matcher.match(key);
      if (hit === null) continue;
      const sample: Sample = {
        key,
        resource: hit.resource.name,
        id: hit.id,
        pos: msg.pos,
        sampledAt: now,
      };
      if (this.schedule.add(sample)) this.stats.samples++;
      else this.stats.dropped++;
    }
  }

  /** Runs the checks that are due, a resource batch at a time. */
  private async tick(): Promise<void> {
    const due = this.schedule.takeDue(this.options.clock.now());
    if (due.length === 0) return;
    const byResource = new Map<string, DueCheck[]>();
    for (const check of due) {
      const list = byResource.get(check.sample.resource) ?? [];
      list.push(check);
      byResource.set(check.sample.resource, list);
    }
    for (const [name, checks] of byResource) {
      const resource = this.options.resources.find((r) => r.name === name);
      if (resource === undefined) continue;
      for (let i = 0; i < checks.length; i += BATCH) {
        if (this.closed) return;
        await this.check(resource, checks.slice(i, i + BATCH));
      }
    }
  }

  private async check(resource: VerifyResource, checks: readonly DueCheck[]): Promise<void> {
    const byKey = new Map<string, DueCheck[]>();
    for (const c of checks) {
      const list = byKey.get(c.sample.key) ?? [];
      list.push(c);
      byKey.set(c.sample.key, list);
    }
    // Watch before reading: an invalidation that arrives from here on may
    // explain whatever the read sees.
    const watched = new Map<string, Watch>();
    for (const key of byKey.keys()) watched.set(key, this.watch(key));
    const items = [...byKey.values()].map((list) => {
      const s = (list[0] as DueCheck).sample;
      return { key: s.key, id: s.id };
    });
    let observations: Observation[];
    let head: BinlogPosition | null;
    try {
      observations = await this.options.probe.read(resource, items);
      head = await this.options.progress.head();
    } catch (err) {
      for (const [key, w] of watched) this.unwatch(key, w);
      for (const c of checks) this.count(c.windowMs).errors++;
      this.log.warn({ resource: resource.name, err: (err as Error).message }, 'check failed');
      return;
    }
    observations.forEach((first, i) => {
      const item = items[i] as { key: string; id: string };
      const list = byKey.get(item.key) ?? [];
      const watch = watched.get(item.key) as Watch;
      const { layers, apiError } = disagreements(first);
      if (layers.length === 0) {
        this.unwatch(item.key, watch);
        for (const c of list) {
          if (apiError) this.count(c.windowMs).errors++;
          else this.decide(c, []);
        }
        return;
      }
      const task = this.confirm(resource, item, first, layers, head, list, watch).finally(() => {
        this.unwatch(item.key, watch);
        this.confirming.delete(task);
      });
      this.confirming.add(task);
    });
  }

  /** Decides a mismatch: stale, in flight, or unconfirmed (see the class comment). */
  private async confirm(
    resource: VerifyResource,
    item: { key: string; id: string },
    first: Observation,
    layers: readonly Layer[],
    head: BinlogPosition | null,
    checks: readonly DueCheck[],
    watch: Watch,
  ): Promise<void> {
    const passed =
      head !== null && (await this.checkpoint.passes(head, this.options.confirmTimeoutMs));
    if (this.closed) return;
    if (!passed) {
      for (const c of checks) this.count(c.windowMs).unconfirmed++;
      this.log.warn(
        {
          key: item.key,
          table: resource.table,
          head: head && formatPosition(head),
          timeoutMs: this.options.confirmTimeoutMs,
        },
        "mismatch left unconfirmed: the daemon's checkpoint did not pass the binlog head in time",
      );
      return;
    }
    let second: Observation | undefined;
    try {
      await this.options.progress.sync();
      await this.options.clock.sleep(this.options.recheckDelayMs ?? DEFAULT_RECHECK_MS);
      [second] = await this.options.probe.read(resource, [item]);
    } catch (err) {
      for (const c of checks) this.count(c.windowMs).errors++;
      this.log.warn({ key: item.key, err: (err as Error).message }, 'confirmation read failed');
      return;
    }
    if (this.closed || second === undefined) return;
    // The same entry and the same row at both reads (so still disagreeing),
    // and no invalidation of the key in between.
    const stale =
      watch.moved || !sameRow(first, second)
        ? []
        : layers.filter((l) => sameAnswer(l, first, second));
    for (const c of checks) this.decide(c, stale);
    if (stale.length === 0) {
      for (const c of checks) this.count(c.windowMs).inFlight++;
      return;
    }
    const now = this.options.clock.now();
    for (const c of checks) {
      this.log.warn(
        {
          key: item.key,
          resource: resource.name,
          table: resource.table,
          layers: stale,
          window: windowLabel(c.windowMs),
          pos: c.sample.pos ?? null,
          ageMs: now - c.sample.sampledAt,
        },
        'stale cache entry confirmed',
      );
    }
  }

  private decide(check: DueCheck, staleLayers: readonly Layer[]): void {
    const w = this.count(check.windowMs);
    w.checks++;
    if (staleLayers.length > 0) {
      w.staleChecks++;
      for (const l of staleLayers) w.stale[l]++;
    }
    this.tally.record(check.windowMs, staleLayers.length > 0);
  }

  private watch(key: string): Watch {
    const w: Watch = { moved: false };
    const set = this.watches.get(key) ?? new Set<Watch>();
    set.add(w);
    this.watches.set(key, set);
    return w;
  }

  private unwatch(key: string, w: Watch): void {
    const set = this.watches.get(key);
    if (set === undefined) return;
    set.delete(w);
    if (set.size === 0) this.watches.delete(key);
  }

  private count(windowMs: number): WindowStats {
    return this.windows.get(windowMs) as WindowStats;
  }
}
