// The Docker HEALTHCHECK of the Sluice image (see Dockerfile).
//
// `sluice serve` is healthy when GET /healthz answers 200 on the address it
// listens on: `--listen`, else SLUICE_API_LISTEN, else 127.0.0.1:8080 (a
// wildcard host is probed on loopback). Every other command, `sluice run`
// included, has no HTTP endpoint: it is healthy while it runs, since it exits
// on a fatal error and the restart policy takes over.
/* global process, fetch, AbortSignal */
import { readFileSync } from 'node:fs';

// PID 1 is `node bin/sluice.js <command> …` (or an init that runs it).
const argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
if (!argv.includes('serve')) process.exit(0);

const flag = argv.indexOf('--listen');
const listen =
  (flag >= 0 ? argv[flag + 1] : undefined) ??
  argv.find((a) => a.startsWith('--listen='))?.slice('--listen='.length) ??
  process.env.SLUICE_API_LISTEN ??
  '127.0.0.1:8080';
const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
if (!m) process.exit(1);
const host = { '0.0.0.0': '127.0.0.1', '[::]': '[::1]' }[m[1]] ?? m[1];

fetch(`http://${host}:${m[2]}/healthz`, { signal: AbortSignal.timeout(2500) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
