import { defineConfig } from 'vitest/config';

/**
 * The tests StrykerJS runs against each mutant (npm run test:mutation): the
 * unit tests, and the fast tests of the mutated modules that need a real
 * Redis or the project's binlog-enabled MariaDB (the audit; the daemon run
 * in process by the Invalidator's tests), never the daemon or the CLI in a
 * child process (a test's private redis-server is fine). When a
 * module joins `mutate` in stryker.config.mjs, its fast tests join
 * `include` here.
 */
export default defineConfig({
  test: {
    name: 'mutation',
    include: [
      'test/unit/**/*.test.ts',
      // The read path against Redis (leases, fills, the bus's effect on L1).
      'test/integration/ReadThrough.test.ts',
      'test/integration/RemoteCache.test.ts',
      'test/integration/cache-bus.test.ts',
      // The cache facade in process (fake daemon): operations and fenced reads.
      'test/integration/cache-ops.test.ts',
      'test/integration/cache-fence.test.ts',
      'test/integration/cache-facade.test.ts',
      // The daemon's delivery stages against Redis (exact keys, messages, positions).
      'test/integration/stages.test.ts',
      // A round trip as one write against Redis (checkpoint outcomes, NOSCRIPT, leases).
      'test/integration/round-command.test.ts',
      // The daemon composed (Invalidator), in process against the binlog-enabled
      // MariaDB and Redis: invalidation, fencing, schema changes, source identity.
      'test/integration/invalidation.test.ts',
      'test/integration/fencing.test.ts',
      'test/integration/schema-change.test.ts',
      'test/integration/source-identity.test.ts',
      // A Redis primary change on a private redis-server: the refused checkpoint write, the re-stream.
      'test/integration/primary-change.test.ts',
      // XA transactions (XA END, the second delete at XA COMMIT) and other binlog surprises.
      'test/integration/binlog-surprises.test.ts',
      // The replay's stages: keys go out while it reads (Replayer).
      'test/integration/replay-batching.test.ts',
      // Backpressure (rule 4): Redis cut off while rows stream, in process.
      'test/integration/backpressure.test.ts',
      // The binlog source against the server through a proxy the test cuts, on a
      // manual clock: reconnects, stalls, backpressure, hosts, fatal errors.
      'test/integration/binlog-source.test.ts',
      // Repeated TABLE_MAP events against the server, across two ALTERs (tableMapReuse).
      'test/integration/table-map-repeats.test.ts',
      // Selective decoding against the server: the exact rows, full and selective (selectiveRows).
      'test/integration/selective-decoding.test.ts',
      // The consistency audit against Redis and MariaDB (its own database; no CLI).
      'test/integration/CacheAuditor.test.ts',
    ],
    // Starts (or reuses) the project's Redis; see test/globalSetup.ts.
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    env: { TZ: 'UTC' },
  },
});
