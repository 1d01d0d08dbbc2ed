import type { Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge } from '../infra/scrapedMetrics.js';
import type { Invalidator } from './Invalidator.js';

/**
 * The daemon's Prometheus metrics, read from the pipeline's counters at
 * scrape time (nothing is done per row for metrics).
 */
export function registerDaemonMetrics(
  registry: Registry,
  daemon: () => Invalidator | null,
  leading: () => boolean,
): void {
  /** 0 while no pipeline runs (a standby, or between restarts). */
  const of =
    (read: (d: Invalidator) => number): (() => number) =>
    () => {
      const d = daemon();
      return d ? read(d) : 0;
    };
  const counter = (name: string, help: string, read: (d: Invalidator) => number): void =>
    scrapedCounter(registry, name, help, of(read));
  const gauge = (name: string, help: string, read: (d: Invalidator) => number): void =>
    scrapedGauge(registry, name, help, of(read));
  counter(
    'sluice_daemon_rows_total',
    'Row images read from the binlog for mapped tables.',
    (d) => d.stats.rows,
  );
  counter(
    'sluice_daemon_transactions_total',
    'Transaction boundaries read from the binlog.',
    (d) => d.stats.transactions,
  );
  counter(
    'sluice_daemon_keys_invalidated_total',
    'Keys deleted (UNLINK) and published, after de-duplication.',
    (d) => d.sinkStats.keys,
  );
  counter(
    'sluice_daemon_batches_total',
    'UNLINK + PUBLISH batches acknowledged by Redis.',
    (d) => d.sinkStats.batches,
  );
  counter(
    'sluice_daemon_round_trips_total',
    'Round trips to Redis carrying key batches or a checkpoint write, acknowledged (a batch rides with others that were ready; their ratio to transactions is what batching saves).',
    (d) => d.sinkStats.rounds,
  );
  counter(
    'sluice_daemon_checkpoints_total',
    'Checkpoint writes acknowledged by Redis.',
    (d) => d.sinkStats.checkpoints,
  );
  counter(
    'sluice_daemon_redis_retries_total',
    'Redis writes of the sink that failed and were retried.',
    (d) => d.sinkStats.retries,
  );
  counter(
    'sluice_daemon_redis_primary_changes_total',
    'Re-streams from the checkpoint after Redis answered from another primary or dataset (failover, restart).',
    (d) => d.stats.redisPrimaryChanges,
  );
  counter(
    'sluice_daemon_pattern_keys_total',
    'Keys removed by key-space flushes (TRUNCATE/DROP, policies).',
    (d) => d.sinkStats.patternKeys,
  );
  counter(
    'sluice_daemon_source_changes_total',
    'Times another server answered where the checkpoint came from and the daemon followed it there by GTID.',
    (d) => d.stats.sourceChanges,
  );
  gauge(
    'sluice_daemon_lag_seconds',
    'Now minus the time of the last binlog event or heartbeat.',
    (d) => (d.stats.lastEventAt === 0 ? 0 : Math.max(0, (Date.now() - d.stats.lastEventAt) / 1000)),
  );
  gauge(
    'sluice_daemon_inflight_keys',
    'Keys read but not yet acknowledged by Redis.',
    (d) => d.inFlightKeys,
  );
  gauge(
    'sluice_daemon_xa_prepared',
    'Prepared XA transactions whose keys the daemon keeps to delete again at their XA COMMIT.',
    (d) => d.preparedXaCount,
  );
  gauge(
    'sluice_daemon_checkpoint_held',
    '1 while a prepared XA transaction holds the checkpoint at the boundary before its rows.',
    (d) => (d.checkpointHeld ? 1 : 0),
  );
  gauge('sluice_daemon_paused', '1 while the binlog is paused for backpressure.', (d) =>
    d.paused ? 1 : 0,
  );
  gauge('sluice_daemon_connected', '1 once the binlog stream is established.', (d) =>
    d.stats.connected ? 1 : 0,
  );
  scrapedGauge(
    registry,
    'sluice_daemon_leading',
    '1 while this instance leads its source (0 on a standby).',
    () => (leading() ? 1 : 0),
  );
}
