import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share one MariaDB and one Redis; each test isolates
    // itself with its own database and key prefix, but binlog-heavy tests
    // are kinder to a 2-core machine one file at a time.
    fileParallelism: false,
    env: { TZ: 'UTC' },
  },
});
