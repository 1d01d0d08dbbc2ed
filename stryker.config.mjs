// @ts-check
/**
 * Mutation testing: `npm run test:mutation`. Each mutant of a module in
 * `mutate` must make a test fail; docs/mutation.md lists the scores and every
 * surviving mutant (killed by a new test, or named equivalent with a reason).
 *
 * StrykerJS 9 (core and vitest-runner): version 10 needs Node 22+, and the
 * project's machines and image run Node 20.
 *
 * To cover another module, add it to `mutate` below and its fast tests to
 * vitest.mutation.config.ts (unit tests are there already).
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    // The wire codec and the subscriber (gap, restart, heartbeat loss).
    'src/bus/codec.ts',
    'src/bus/BusSubscriber.ts',
    // The cache's protections: fill tracker, read-through, L1 and L2 facades.
    'src/cache/FillTracker.ts',
    'src/cache/ReadThrough.ts',
    'src/cache/LocalCache.ts',
    'src/cache/RemoteCache.ts',
    // The facade that composes them (fenced reads, writes, own messages).
    'src/cache/SluiceCache.ts',
    // The daemon core's stages: batcher, dispatcher, tracker, writer,
    // publisher, stall detection, replay rate limit.
    'src/pipeline/batch/Batcher.ts',
    'src/pipeline/batch/RateLimiter.ts',
    // The keys of prepared XA transactions, deleted again at XA COMMIT.
    'src/pipeline/batch/PreparedXa.ts',
    'src/pipeline/Dispatcher.ts',
    'src/pipeline/checkpoint/CheckpointTracker.ts',
    'src/pipeline/checkpoint/CheckpointWriter.ts',
    'src/pipeline/source/StallDetector.ts',
    'src/bus/BusPublisher.ts',
    'src/bus/Watermark.ts',
    // The cluster subscription, the cache's counters and the consistency audit.
    'src/bus/ClusterBusSubscriber.ts',
    'src/cache/CacheStats.ts',
    'src/cache/CacheAuditor.ts',
    // The hot path's protections: the key mapper, the TABLE_MAP reuse (a
    // changed byte must parse in full).
    'src/pipeline/mapping/KeyMapper.ts',
    'src/pipeline/source/tableMapReuse.ts',
    // The daemon's metrics and the counters kept across a re-stream.
    'src/pipeline/DaemonMetrics.ts',
    'src/infra/scrapedMetrics.ts',
    'src/verify/VerifyMetrics.ts',
    'src/source-admin/BinlogRetention.ts',
    'src/pipeline/DeliveryStages.ts',
    // The daemon composed: the Invalidator's wiring of source, mapper, stages and policies.
    'src/pipeline/Invalidator.ts',
    // The replay: its keys go out while it reads, its positions end the range.
    'src/pipeline/replay/Replayer.ts',
    // A Redis primary change: the watch that notices it and the policy that re-streams.
    'src/pipeline/checkpoint/PrimaryWatch.ts',
    'src/pipeline/policies/redisPolicy.ts',
    // A round trip as one write (UNLINKs, then the checkpoint and PUBLISHes in one script call;
    // the scripts' text read by lua.ts),
    // and the source path's translation of events and GTIDs into boundaries.
    'src/pipeline/checkpoint/lua.ts',
    'src/pipeline/transport/EncodedCommand.ts',
    'src/pipeline/transport/RoundCommand.ts',
    'src/pipeline/transport/SingleRedisTransport.ts',
    'src/pipeline/transport/UnlinkCommand.ts',
    'src/pipeline/source/EventTranslator.ts',
    'src/pipeline/source/GtidTracker.ts',
    // The binlog source's protections (test/integration/binlog-source.test.ts
    // in process; the chaos suite on the daemon's process): the connection's
    // life, one source at a time, the primary among several hosts, fatal or
    // retried errors and their backoff, the server check, the policy.
    'src/pipeline/source/BinlogSource.ts',
    'src/pipeline/source/BinlogStream.ts',
    'src/pipeline/source/locatePrimary.ts',
    'src/pipeline/source/ErrorTriage.ts',
    'src/pipeline/source/ReconnectBackoff.ts',
    'src/pipeline/source/ServerCheck.ts',
    'src/pipeline/source/PrimaryWatch.ts',
    'src/pipeline/policies/sourcePolicy.ts',
    // Failover and schema protections: the leadership lease and its fencing
    // token, whether a new source holds the checkpoint's GTIDs, which server a
    // coordinate belongs to, DDL parsing and the schema policy; the
    // checkpoint's store and the status record; selective decoding (a wrong
    // step over a column misreads the row's keys).
    'src/pipeline/checkpoint/LeaderLease.ts',
    'src/pipeline/checkpoint/CheckpointStore.ts',
    'src/pipeline/checkpoint/StatusRecord.ts',
    'src/pipeline/gtidCoverage.ts',
    'src/pipeline/ServerIdentity.ts',
    'src/pipeline/sourceChangePolicy.ts',
    'src/pipeline/change/ddl.ts',
    'src/pipeline/policies/schemaPolicy.ts',
    'src/pipeline/source/selectiveRows.ts',
    // Rows to keys and back (templates; the globs of key-space flushes, in
    // Redis and in L1; the lease keys a flush must reach), the coordinates
    // (positions, GTID sets, the stored checkpoint) and the fence token of a
    // commit (read your own writes; MySQL's answers from fixtures).
    'src/keys/KeyTemplate.ts',
    'src/keys/glob.ts',
    'src/keys/RedisKeys.ts',
    'src/pipeline/position.ts',
    'src/pipeline/checkpoint/Checkpoint.ts',
    'src/db/fenceToken.ts',
    // Secrets out of logs and SQL out of names; the L2 entry format and the
    // fill/lease tokens; the cluster slot of a key; the HTTP id list; and the
    // consistency monitor's verdicts (which layer disagrees, which resource a
    // key is, when a check falls due, the nines over the horizon).
    'src/config/redact.ts',
    'src/db/quoteIdentifier.ts',
    'src/cache/codec.ts',
    'src/cache/token.ts',
    'src/cache/TtlPolicy.ts',
    'src/keys/slot.ts',
    'src/http/parseIdList.ts',
    'src/verify/compareObservation.ts',
    'src/verify/ResourceMatcher.ts',
    'src/verify/CheckSchedule.ts',
    'src/verify/ConsistencyTally.ts',
    // No value in a logged statement (the job workers' and the database's
    // shapes); the one backoff formula and the one timeout race.
    'src/jobs/sqlShape.ts',
    'src/db/statementShape.ts',
    'src/infra/backoff.ts',
    'src/infra/timeout.ts',
    // The time every timed rule reads (monotonic: a stepped wall clock moves
    // no deadline), and the job workers' error-log throttle and bounded close.
    'src/infra/clock.ts',
    'src/jobs/workerLifecycle.ts',
  ],
  coverageAnalysis: 'perTest',
  // Two cores: the machines' size.
  concurrency: 2,
  timeoutMS: 15_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 95, low: 90, break: 90 },
  ignorePatterns: ['dist', 'docs', 'reports', 'coverage', '.data', 'deploy', 'examples'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
