import { fileURLToPath } from 'node:url';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * The fault tests stop, pause and restart MariaDB and Redis, so they run only
 * when asked for by name (`npm run test:chaos`, `vitest run --project chaos`)
 * or with SLUICE_CHAOS=1: a plain `vitest run` does not start them.
 */
const argv = process.argv.slice(2);
const chaosRequested =
  process.env.SLUICE_CHAOS === '1' ||
  argv.includes('--project=chaos') ||
  argv.some((a, i) => a === '--project' && argv[i + 1] === 'chaos');

// examples/ import the package by its name, as a user's code does; in this
// repository that name is the source (tsconfig.json `paths` says the same).
const resolve = { alias: { sluice: fileURLToPath(new URL('./src/index.ts', import.meta.url)) } };

const chaos: TestProjectInlineConfiguration = {
  resolve,
  test: {
    name: 'chaos',
    // Own MariaDB and Redis (test/chaos/globalSetup.ts), stopped, paused and
    // restarted on purpose.
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/chaos/globalSetup.ts'],
    setupFiles: ['test/setupProcesses.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    env: { TZ: 'UTC' },
  },
};

export default defineConfig({
  test: {
    env: { TZ: 'UTC' },
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          env: { TZ: 'UTC' },
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Starts the project's own MariaDB (binlog) and Redis: scripts/services.sh.
          globalSetup: ['test/globalSetup.ts'],
          setupFiles: ['test/setupProcesses.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One shared MariaDB and Redis: each test isolates itself with its own
          // database, key prefix and source name, but binlog-heavy files are
          // kinder to a 2-core machine one at a time.
          fileParallelism: false,
          env: { TZ: 'UTC' },
        },
      },
      ...(chaosRequested ? [chaos] : []),
    ],
  },
});
