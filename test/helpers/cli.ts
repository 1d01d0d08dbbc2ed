import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomServerId, testEnv } from './env.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/sluice.js');

/** Writes a YAML config to a fresh temp folder; returns its path. */
export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const path = join(dir, 'sluice.yaml');
  writeFileSync(path, yaml);
  return path;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `sluice …args` to completion (compiled CLI: `npm run build` first). */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** Every CliProcess still running: test/setupProcesses.ts kills them after each file. */
const running = new Set<CliProcess>();

/** A long-running `sluice …` process whose output is kept for assertions. */
export class CliProcess {
  /** Kills (SIGCONT + SIGKILL) every process a test left running, even when it failed midway. */
  static async killAll(): Promise<void> {
    const left = [...running];
    for (const p of left) {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
    await Promise.all(left.map((p) => p.exited));
  }

  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    running.add(this);
    this.exited = new Promise((r) =>
      this.child.on('close', (code, signal) => {
        running.delete(this);
        r({ code, signal });
      }),
    );
  }

  /** Structured log lines printed so far. */
  logs(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/**
 * The configuration file of a `sluice run` on the test services: its own
 * source name (checkpoint), replica id and channel (`testChannel(source)`),
 * a 500 ms heartbeat and fast reconnects; `rules` maps `db.table` to key
 * templates. `sourceExtra`, `invalidationExtra` and `top` are extra YAML
 * lines for the `source:` and `invalidation:` sections and the top level
 * (e.g. `api:`). Returns the file's path.
 */
export function daemonConfig(options: {
  readonly source: string;
  readonly database: string;
  readonly rules: Readonly<Record<string, readonly string[]>>;
  readonly sourceExtra?: string;
  readonly invalidationExtra?: string;
  readonly top?: string;
  /** Default: the test server's binlog user (testEnv.sourceUrl). */
  readonly sourceUrl?: string;
}): string {
  const rules = Object.entries(options.rules)
    .map(([table, keys]) => `  - table: ${table}\n    keys: ${JSON.stringify(keys)}`)
    .join('\n');
  return writeConfig(`
source:
  name: ${options.source}
  url: ${options.sourceUrl ?? testEnv.sourceUrl}/${options.database}
  serverId: ${randomServerId()}
  heartbeatMs: 500
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }
${options.sourceExtra ?? ''}
redis:
  url: ${testEnv.redisUrl}
invalidation:
  channel: ${testChannel(options.source)}
${options.invalidationExtra ?? ''}
${options.top ?? ''}
rules:
${rules}
`);
}

/** The invalidation channel of a daemon configured by `daemonConfig`. */
export function testChannel(source: string): string {
  return `sluice:test:${source}`;
}
