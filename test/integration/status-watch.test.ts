import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, CliProcess, daemonConfig, ROOT } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId } from '../helpers/env.js';

const CLEAR = '\x1b[H\x1b[2J';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * `sluice status --watch` against a running daemon and `sluice verify`: on a
 * pseudo-terminal (util-linux `script`) it redraws a screen every second and
 * quits on Ctrl-C; through a pipe it prints one logfmt line per second.
 */
describe('sluice status --watch', () => {
  let db: TestDb;
  let config: string;
  let daemon: CliProcess;
  let verify: CliProcess;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)');
    const source = `watch-${randomId()}`;
    const [daemonPort, verifyPort] = [await freePort(), await freePort()];
    config = daemonConfig({
      source,
      database: db.name,
      rules: { [`${db.name}.users`]: [`${source}:user:{id}`] },
      top: `
database:
  url: ${process.env.SLUICE_TEST_APP_URL ?? 'mysql://app:app-secret@127.0.0.1:3307'}/${db.name}
api:
  resources:
    users: { table: ${db.name}.users, key: "${source}:user:{id}" }
metrics:
  listen: 127.0.0.1:${daemonPort}
verify:
  listen: 127.0.0.1:${verifyPort}
  sampleRate: 1
  windowsMs: [1000]
`,
    });
    daemon = new CliProcess(['run', '--config', config]);
    verify = new CliProcess(['verify', '--config', config]);
    await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), {
      timeout: 15_000,
    });
    await vi.waitFor(() => expect(verify.stdout).toContain('metrics on'), { timeout: 15_000 });
    await db.sql("INSERT INTO users VALUES (1, 'a'), (2, 'b')");
  });

  afterAll(async () => {
    for (const p of [verify, daemon]) {
      p.kill('SIGTERM');
      await p.exited;
    }
    await db.drop();
  });

  it('on a terminal: a screen redrawn every second with lag, throughput, leader, token and consistency; Ctrl-C quits', async () => {
    const child = spawn(
      'script',
      [
        '-q',
        '-f',
        '-e',
        '-c',
        // exec: Ctrl-C must reach sluice alone; a shell left waiting in the
        // foreground group (dash, whatever $SHELL is) would die of it (130).
        `exec ${process.execPath} ${BIN} status --watch --config ${config}`,
        '/dev/null',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, SHELL: '/bin/sh', TERM: 'xterm', COLUMNS: '160', LINES: '40' },
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => resolve(code)),
    );
    try {
      // Rates need two frames; the consistency line needs verify's first 1 s checks.
      await vi.waitFor(
        () => {
          const frames = out.split(CLEAR);
          expect(frames.length).toBeGreaterThanOrEqual(4);
          const last = frames[frames.length - 2] as string; // the last complete frame
          expect(last).toMatch(/^sluice status --watch {2}\d{4}-\d\d-\d\dT/);
          expect(last).toMatch(/\ncheckpoint {2}binlog\.\d+:\d+/);
          expect(last).toMatch(/\nserver {6}binlog\.\d+:\d+/);
          expect(last).toMatch(/\nlag {9}\d+ bytes, [\d.]+ s/);
          expect(last).toMatch(/\nthroughput {2}\d+ rows\/s, \d+ keys\/s/);
          expect(last).toMatch(/\nin flight {3}0 keys, not paused/);
          expect(last).toMatch(/\nleader {6}\S+, fencing token 1\r?\n/);
          expect(last).toMatch(/\nlast error {2}none/);
          expect(last).toMatch(/\nconsistency 1s: [\d.]+ nines \(0 stale \/ 2 checks\)/);
        },
        { timeout: 15_000, interval: 200 },
      );
      child.stdin.write('\x03'); // Ctrl-C, through the terminal's line discipline
      expect(await exited).toBe(0);
      expect(out.trimEnd().endsWith(SHOW_CURSOR)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('through a pipe: one logfmt line per second; SIGINT stops it with exit 0', async () => {
    const watch = new CliProcess(['status', '--watch', '--config', config]);
    await vi.waitFor(
      () => {
        const lines = watch.stdout.split('\n').filter((l) => l.startsWith('at='));
        expect(lines.length).toBeGreaterThanOrEqual(2);
        expect(lines[1]).toMatch(
          /^at=\S+ source=watch-\w+ checkpoint=binlog\.\d+:\d+ head=binlog\.\d+:\d+ lag_bytes=\d+ lag_seconds=[\d.]+ rows_per_sec=\d+ keys_per_sec=\d+ in_flight=0 paused=false leader=\S+ fencing_token=1 last_error=- consistency=1s:[\d.]+ problems=0$/,
        );
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(watch.stdout).not.toContain('\x1b[');
    watch.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
  });
});
