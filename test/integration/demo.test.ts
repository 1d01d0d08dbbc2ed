import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/env.js';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`demo did not finish in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * `npm run demo` end to end (`--once`: it stops after the narration): the
 * build if needed, the services, the schema, `sluice run` + `sluice serve`,
 * and reads that turn fresh after plain-SQL writes. Both processes must be
 * gone afterwards.
 */
describe('scripts/demo.sh --once', () => {
  it('shows miss → l1, then a fresh read after an UPDATE and after an INSERT, and stops cleanly', async () => {
    const port = await freePort();
    const { code, output } = await run(
      ['scripts/demo.sh', '--once'],
      { SLUICE_DEMO_LISTEN: `127.0.0.1:${port}` },
      90_000,
    );
    expect(code, output).toBe(0);
    // The first read comes from the database, the second from L1.
    expect(output).toMatch(/X-Cache: miss {3}\{"id":"1"[\s\S]*X-Cache: l1 {3}\{"id":"1"/);
    // After the UPDATE, the API answered with the new name (a fresh read) …
    const fresh = [...output.matchAll(/fresh read ([\d.]+) ms after the COMMIT/g)];
    expect(fresh, output).toHaveLength(2);
    const edited = /UPDATE users SET name = '(Ada Lovelace \(edited [\d:]+\))'/.exec(output)?.[1];
    expect(edited, output).toBeDefined();
    expect(output).toContain(`"name":"${edited ?? ''}"`);
    // … the daemon's log shows which keys it deleted …
    expect(output).toContain('update on app.users → deleted user:1, user:email:ada@example.com');
    expect(output).toMatch(/insert on app\.messages → deleted message:\d+, chat:1:messages/);
    // … and the new message heads the first page of chat 1.
    const body = /VALUES \(1, 1, '(hello from the demo at [\d:]+)'\)/.exec(output)?.[1];
    expect(output).toContain(`"body":"${body ?? '?'}"`);
    expect(output).toContain('stopped.');
    expect(await accepts(port)).toBe(false);
  }, 100_000);
});
