// Debian's sysbench (installed with apt-get when missing) running
// oltp_write_only on the bench MariaDB's `sbtest` database, in a session of
// its own like a client on another host (see procs.ts).
import { execFileSync, spawn } from 'node:child_process';
import { bench } from './env.js';
import { ownSession } from './procs.js';

export interface SysbenchShape {
  readonly tables: number;
  readonly tableSize: number;
  readonly threads: number;
  /** Run for this long (`--time`), or until `events` transactions (`--events`, `--time=0`). */
  readonly seconds?: number;
  readonly events?: number;
  /** A fixed arrival rate in transactions per second (`--rate`); 0 or absent: as fast as it goes. */
  readonly rate?: number;
}

/**
 * The daemon's rules for sysbench's tables `sbtest.sbtest1…N`: two key
 * templates each, `sbtestN:{id}` and `sbtestN:k:{k}` (the indexed column).
 */
export function sysbenchRules(tables: number): Array<{ table: string; keys: string[] }> {
  return Array.from({ length: tables }, (_, i) => ({
    table: `sbtest.sbtest${i + 1}`,
    keys: [`sbtest${i + 1}:{id}`, `sbtest${i + 1}:k:{k}`],
  }));
}

/** Installs sysbench when missing (root only); `log` reports the install. */
export function ensureSysbench(log: (text: string) => void): void {
  try {
    execFileSync('sysbench', ['--version'], { stdio: 'ignore' });
    return;
  } catch {
    // missing: install below
  }
  if (process.getuid?.() !== 0)
    throw new Error('sysbench is missing: sudo apt-get install -y sysbench');
  log('installing sysbench (apt-get)');
  execFileSync(
    'bash',
    [
      '-c',
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sysbench',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

export function sysbenchVersion(): string {
  return execFileSync('sysbench', ['--version'], { encoding: 'utf8' }).trim();
}

export function sysbenchArgs(command: string, shape: SysbenchShape): string[] {
  return [
    'oltp_write_only',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${bench.mariadbPort}`,
    `--mysql-user=${bench.admin.user}`,
    `--mysql-password=${bench.admin.password}`,
    '--mysql-db=sbtest',
    `--tables=${shape.tables}`,
    `--table-size=${shape.tableSize}`,
    `--threads=${shape.threads}`,
    ...(shape.events === undefined
      ? [`--time=${shape.seconds ?? 30}`]
      : [`--events=${shape.events}`, '--time=0']),
    ...(shape.rate ? [`--rate=${shape.rate}`] : []),
    '--report-interval=10',
    command,
  ];
}

/** The command line as documented (the password elided). */
export function describeSysbench(command: string, shape: SysbenchShape): string {
  return `sysbench ${sysbenchArgs(command, shape)
    .join(' ')
    .replace(/--mysql-password=\S+/, '--mysql-password=…')}`;
}

export function runSysbench(command: string, shape: SysbenchShape): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sysbench', sysbenchArgs(command, shape), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    ownSession(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`sysbench ${command} exited ${code}:\n${out}`)),
    );
  });
}
