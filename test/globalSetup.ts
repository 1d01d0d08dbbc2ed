// Starts (or reuses) the project's MariaDB and Redis before any test file and
// exposes their coordinates as SLUICE_TEST_* variables. Services are left
// running afterwards: the next run reuses them, CI machines are thrown away.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export default function setup(): void {
  execFileSync('bash', ['scripts/services.sh', 'up'], { cwd: root, stdio: 'inherit' });
  // promtool and docker-compose for test/integration/observability.test.ts.
  execFileSync('bash', ['scripts/services.sh', 'tools'], { cwd: root, stdio: 'inherit' });
  // `services.sh env` is the single source of truth: export KEY='value' lines.
  const out = execFileSync('bash', ['scripts/services.sh', 'env'], { cwd: root, encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m?.[1] && m[2] !== undefined) process.env[m[1]] = m[2].replaceAll(`'\\''`, `'`);
  }
  if (!process.env.SLUICE_TEST_ADMIN_URL || !process.env.SLUICE_TEST_REDIS_URL) {
    throw new Error(`globalSetup: unexpected output from services.sh env:\n${out}`);
  }
}
