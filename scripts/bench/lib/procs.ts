// Child processes of a scenario: the compiled CLI (`sluice run`, `sluice
// serve`), workers, and what /proc says about them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, WORK_DIR } from './env.js';

/** A pino log line of a Sluice process (only the fields the bench reads). */
export interface LogLine {
  readonly level?: string;
  readonly time?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every JSON log line so far (stdout). */
  readonly lines: LogLine[];
  /** Resolves with the first line for which `match` is true. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  // Children in sessions of their own outlive a bench that stops abruptly.
  for (const child of live) child.kill('SIGKILL');
});

/** Tracks a child started with `detached: true` so that it dies with the bench. */
export function ownSession(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/**
 * Starts a Node child (the CLI or a worker) and parses its stdout as JSON
 * lines. With BENCH_PROFILE=1 the child writes a V8 CPU profile to
 * .data/bench/work/profiles on exit.
 */
export function startNode(
  args: readonly string[],
  options: { name: string; env?: NodeJS.ProcessEnv; profile?: boolean } = { name: 'node' },
): Proc {
  const nodeArgs: string[] = [];
  if (options.profile ?? process.env.BENCH_PROFILE === '1') {
    const dir = join(WORK_DIR, 'profiles');
    mkdirSync(dir, { recursive: true });
    // One folder per process: worker threads write profiles of their own.
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', join(dir, `${options.name}-${Date.now()}`));
  }
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Each service in a session of its own, as it would run in production
    // (its own systemd unit or container): with the kernel's autogroup
    // scheduling, processes of one session share one CPU weight, so a daemon
    // left in the bench's session would compete thread-for-thread with
    // sysbench's 8 client threads instead of as a service of its own.
    detached: process.env.BENCH_SAME_SESSION !== '1',
  });
  if (child.pid === undefined) throw new Error(`${options.name}: spawn failed`);
  ownSession(child);
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  createInterface({ input: child.stderr }).on('line', (text) => {
    stderr.push(text);
    if (stderr.length > 50) stderr.shift();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const describeExit = (): string =>
    `${options.name} (pid ${child.pid}) exited with ${child.exitCode}; last output:\n` +
    [...lines.slice(-10).map((l) => JSON.stringify(l)), ...stderr.slice(-20)].join('\n');

  return {
    child,
    pid: child.pid,
    lines,
    exited,
    waitFor(match, timeoutMs = 20_000) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const w = {
          match,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `${options.name}: expected log line not seen in ${timeoutMs} ms\n${describeExit()}`,
            ),
          );
        }, timeoutMs);
        waiters.add(w);
        void exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(describeExit()));
        });
      });
    },
    async stop(graceMs = 8000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * `node bin/sluice.js <command> --config FILE`. BENCH_SLUICE_ROOT (or
 * `root`) points at another built checkout (to compare a baseline with the
 * working tree in one run).
 */
export function startSluice(
  command: 'run' | 'serve',
  config: string,
  extra: readonly string[] = [],
  name: string = command,
  root: string = process.env.BENCH_SLUICE_ROOT ?? ROOT,
): Proc {
  const bin = join(root, 'bin/sluice.js');
  return startNode([bin, command, '--config', config, ...extra], { name: `sluice-${name}` });
}

/** A worker under scripts/bench/workers, run through tsx. */
export function startWorker(
  file: string,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Proc {
  return startNode(['--import', 'tsx', join('scripts/bench/workers', file), ...args], {
    name: file.replace(/\.ts$/, ''),
    env,
  });
}

/** Resident set size now and its peak (VmHWM), in bytes (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export interface ThreadStats {
  /** The thread's name (`comm`). */
  readonly name: string;
  /** CPU time in ns, from the scheduler's own accounting (schedstat). */
  readonly cpuNs: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

/**
 * Every thread of `pid` by thread id: its name, CPU time from the
 * scheduler's own nanosecond accounting (/proc/PID/task/N/schedstat: exact
 * for processes that run in short bursts, where the tick-sampled times of
 * /proc/PID/stat can be off by far more than the work measured), and its
 * voluntary (waits) and involuntary (preemptions) context switches.
 */
export function threadStats(pid: number): Map<number, ThreadStats> {
  const out = new Map<number, ThreadStats>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${task}`;
      const status = readFileSync(`${dir}/status`, 'utf8');
      const count = (field: string): number =>
        Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
      out.set(Number(task), {
        name: readFileSync(`${dir}/comm`, 'utf8').trim(),
        cpuNs: Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]),
        voluntary: count('voluntary_ctxt_switches'),
        involuntary: count('nonvoluntary_ctxt_switches'),
      });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** CPU time of all threads of `pid` in ms (threadStats). */
export function schedCpuMs(pid: number): number {
  let ns = 0;
  for (const t of threadStats(pid).values()) ns += t.cpuNs;
  return ns / 1e6;
}

export function pidFrom(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value other than undefined. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
  everyMs = 2,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
