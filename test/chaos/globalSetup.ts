// The chaos suite gets a MariaDB and a Redis of its own (own data folder and
// ports), so its tests can stop, pause and restart them without disturbing
// anything else. Exposed to the tests as the usual SLUICE_TEST_* variables.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chaosEnv } from './services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default function setup(): void {
  const env = { ...process.env, ...chaosEnv };
  execFileSync('bash', ['scripts/services.sh', 'up'], { cwd: root, stdio: 'inherit', env });
  const out = execFileSync('bash', ['scripts/services.sh', 'env'], {
    cwd: root,
    encoding: 'utf8',
    env,
  });
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m?.[1] && m[2] !== undefined) process.env[m[1]] = m[2].replaceAll(`'\\''`, `'`);
  }
}
