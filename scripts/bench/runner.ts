// Runs every bench scenario in one go, each in its own process (a crash in
// one cannot take the others down), prints the summary table and writes
// docs/benchmarks.md (the block between the bench:results markers; the rest
// of the file is hand-written and kept). Exits non-zero only if a scenario
// failed to run: missed targets are results, not failures.
//
//   npm run bench                          all scenarios
//   BENCH_ONLY=replay,latency npm run bench
//   BENCH_SLUICE_ROOT=/other/checkout npm run bench   (its built `sluice run`/`serve`)
import type { RowDataPacket } from 'mysql2';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { adminConnection, bench, benchRedis, ROOT, servicesUp, WORK_DIR } from './lib/env.js';
import type { ResultRow, ScenarioResult } from './lib/result.js';

const SCENARIOS = [
  'replay',
  'smallTransactions',
  'latency',
  'sustained',
  'readApi',
  'readYourWrites',
] as const;
const DOC = join(ROOT, 'docs/benchmarks.md');
const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

interface Outcome {
  readonly name: string;
  readonly result: ScenarioResult | null;
  readonly seconds: number;
  readonly error: string | null;
  /** 1-minute load average when the scenario started. */
  readonly load: number;
}

function runOne(name: string): Promise<Outcome> {
  const file = join(WORK_DIR, `result-${name}.json`);
  rmSync(file, { force: true });
  const started = Date.now();
  const load = loadavg()[0] ?? Number.NaN;
  process.stderr.write(`\n▶ ${name} (load average ${load.toFixed(2)})\n`);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join('scripts/bench/scenarios', `${name}.ts`)],
      {
        cwd: ROOT,
        env: { ...process.env, BENCH_RESULT_FILE: file },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    child.on('exit', (code, signal) => {
      const seconds = (Date.now() - started) / 1000;
      if (code === 0 && existsSync(file)) {
        resolve({
          name,
          result: JSON.parse(readFileSync(file, 'utf8')) as ScenarioResult,
          seconds,
          error: null,
          load,
        });
      } else {
        resolve({ name, result: null, seconds, error: `exited with ${signal ?? code}`, load });
      }
    });
  });
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function table(outcomes: readonly Outcome[]): string {
  const lines = [
    '| scenario | metric | Sluice | compared with (same run) | target | met |',
    '|---|---|---|---|---|---|',
  ];
  for (const o of outcomes) {
    if (o.result === null) {
      lines.push(`| ${o.name} | — | **failed to run** (${o.error ?? ''}) | — | — | — |`);
      continue;
    }
    for (const r of o.result.rows as ResultRow[]) {
      const met = r.met === null ? '—' : r.met ? 'yes' : '**no**';
      lines.push(
        `| ${cell(r.scenario)} | ${cell(r.metric)} | ${cell(r.sluice)} | ${cell(r.compared)} | ${cell(r.target)} | ${met} |`,
      );
    }
  }
  return lines.join('\n');
}

function sh(cmd: string, args: readonly string[], cwd: string = ROOT): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'n/a';
  }
}

function pkgVersion(name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'n/a';
  }
}

async function environment(load: readonly number[], loadAfter: readonly number[]): Promise<string> {
  const conn = await adminConnection();
  const redis = benchRedis();
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
    const mariadb = String(rows[0]?.v ?? 'n/a');
    const info = await redis.info('server');
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'n/a';
    const cpu = cpus();
    const other = process.env.BENCH_SLUICE_ROOT;
    const sluiceFrom =
      other === undefined
        ? ''
        : `; \`sluice run\`/\`serve\` from ${other} (${sh('git', ['rev-parse', '--short', 'HEAD'], other)}, BENCH_SLUICE_ROOT)`;
    const dirty =
      sh('git', ['status', '--porcelain', '--untracked-files=no']) === ''
        ? ''
        : ' + uncommitted changes';
    return [
      `- Machine: ${cpu.length} CPUs (\`nproc\` ${sh('nproc', [])}), ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; ` +
        `load average before the run ${load.map((l) => l.toFixed(2)).join(' / ')}, after it ${loadAfter.map((l) => l.toFixed(2)).join(' / ')} (the machine is shared: other work was running).`,
      `- Versions: Node ${process.version}, MariaDB ${mariadb} (bench instance on :${bench.mariadbPort}), Redis ${redisVersion} (bench instance on :${bench.redisPort}), ` +
        `@vlasky/zongji ${pkgVersion('@vlasky/zongji')}, ioredis ${pkgVersion('ioredis')}, mysql2 ${pkgVersion('mysql2')}, fastify ${pkgVersion('fastify')}, ` +
        `autocannon ${pkgVersion('autocannon')}, ${sh('sysbench', ['--version'])}; Sluice ${sh('git', ['rev-parse', '--short', 'HEAD'])}${dirty}${sluiceFrom}.`,
    ].join('\n');
  } finally {
    await conn.end();
    redis.disconnect();
  }
}

function command(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_RESULT_FILE')
    .map(([k, v]) => `${k}=${v ?? ''} `)
    .join('');
  return `${env}npm run bench   # = npm run build && node scripts/bench/run.js`;
}

function writeDoc(block: string): void {
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  const generated = `${START}\n${block}\n${END}`;
  if (!existsSync(DOC)) {
    writeFileSync(DOC, `# Benchmarks\n\n${generated}\n`);
    return;
  }
  const text = readFileSync(DOC, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  writeFileSync(
    DOC,
    a >= 0 && b > a
      ? text.slice(0, a) + generated + text.slice(b + END.length)
      : `${text.trimEnd()}\n\n${generated}\n`,
  );
}

async function main(): Promise<number> {
  const started = Date.now();
  const load = loadavg();
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const names = SCENARIOS.filter((n) => only === undefined || only.includes(n));
  mkdirSync(WORK_DIR, { recursive: true });
  servicesUp();
  const outcomes: Outcome[] = [];
  for (const name of names) outcomes.push(await runOne(name));

  const summary = table(outcomes);
  const minutes = (Date.now() - started) / 60_000;
  const failed = outcomes.filter((o) => o.result === null);
  process.stdout.write(
    `\n${summary}\n\n${failed.length === 0 ? 'all scenarios ran' : `${failed.length} scenario(s) failed to run`} in ${minutes.toFixed(1)} min\n`,
  );

  const sections = outcomes.map((o) =>
    o.result === null
      ? `### ${o.name}\n\nFailed to run (${o.error ?? ''}); see the console output.`
      : `### ${o.name} (${o.seconds.toFixed(0)} s; 1-min load average at its start ${o.load.toFixed(2)})\n\n${o.result.details.join('\n\n')}`,
  );
  writeDoc(
    [
      `Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${minutes.toFixed(1)} min.`,
      '',
      '```sh',
      command(),
      '```',
      '',
      await environment(load, loadavg()),
      '',
      summary,
      '',
      ...sections.flatMap((s) => [s, '']),
    ].join('\n'),
  );
  process.stdout.write(`wrote ${DOC}\n`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('bench runner failed:', err);
    process.exit(1);
  },
);
