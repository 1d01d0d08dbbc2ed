import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisKeys } from '../../src/keys/RedisKeys.js';
import { ROOT } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { freePort, randomId, randomServerId, testEnv } from '../helpers/env.js';
import { readmeEmbeddingExample } from '../helpers/readme.js';

/** A user's shell: none of npm's script variables, none of Sluice's overrides. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([k]) => !/^(npm_|sluice_)/i.test(k));
  return { ...Object.fromEntries(inherited), ...extra };
}

/** A child process whose output is kept for assertions. */
class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => resolve({ code, signal })),
    );
  }

  /** Runs to completion; fails with the output when it exits non-zero. */
  static async run(command: string, args: string[], cwd: string): Promise<Proc> {
    const proc = new Proc(command, args, cwd, userEnv());
    const { code } = await proc.exited;
    if (code !== 0) {
      throw new Error(`${command} ${args.join(' ')} exited ${code}\n${proc.stdout}${proc.stderr}`);
    }
    return proc;
  }
}

/**
 * tsc's diagnostics (one per line that does not start with a space; the
 * indented lines after it belong to it), without those reported in another
 * package's own files under node_modules (Sluice's are kept).
 */
function ownDiagnostics(stdout: string): string[] {
  const diagnostics: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    if (/^\s/.test(line) && diagnostics.length > 0)
      diagnostics[diagnostics.length - 1] += `\n${line}`;
    else diagnostics.push(line);
  }
  return diagnostics.filter(
    (d) => !d.startsWith('node_modules/') || d.startsWith('node_modules/sluice/'),
  );
}

/**
 * The package as a user gets it (issue: two copies of ioredis made the
 * README example fail to type-check): `npm pack`, installed into a fresh
 * project next to the latest ioredis and TypeScript, with the README's
 * embedding example copied verbatim. It type-checks there, and it runs:
 * rows from the test MariaDB through the test Redis, kept fresh by the
 * packaged `sluice run`.
 */
describe('the packed package in a fresh project', () => {
  const project = mkdtempSync(join(tmpdir(), 'sluice-pack-'));
  const p = `pk${randomId()}`;
  // The example, run as a program, caches under `user:{id}` without a prefix:
  // a logical database of its own keeps those keys apart from other runs.
  const redisUrl = new URL(testEnv.redisUrl);
  redisUrl.pathname = `/${1 + Math.floor(Math.random() * 15)}`;
  const running: Proc[] = [];
  let db: TestDb | undefined;
  let tsc: Proc | undefined;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('run `npm run build` first');
    const packed = await Proc.run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', project],
      ROOT,
    );
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'embed-check', private: true, type: 'module' }),
    );
    await Proc.run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        `./${filename}`,
        'ioredis@latest',
        'typescript@latest',
        'fastify',
        'mysql2',
        '@types/node',
      ],
      project,
    );
    writeFileSync(join(project, 'fastify-route.ts'), readmeEmbeddingExample());
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          // Sluice's declarations are checked too, against the project's ioredis.
          skipLibCheck: false,
          types: ['node'],
          rootDir: '.',
          outDir: 'out',
        },
        include: ['fastify-route.ts'],
      }),
    );
    tsc = new Proc(
      process.execPath,
      [join(project, 'node_modules/typescript/bin/tsc'), '-p', project],
      project,
      userEnv(),
    );
    await tsc.exited;

    db = await TestDb.create();
    await db.sql(
      `CREATE TABLE users (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255), name VARCHAR(255))`,
    );
    await db.sql(`INSERT INTO users VALUES (1, 'ada@example.com', 'Ada')`);
  }, 300_000);

  afterAll(async () => {
    for (const proc of running) proc.child.kill('SIGKILL');
    await Promise.all(running.map((proc) => proc.exited));
    const redis = new Redis(redisUrl.href);
    try {
      const keys = ['user:1', 'user:404'];
      await redis.unlink(...keys, ...keys.map((k) => RedisKeys.lease(k)));
    } finally {
      redis.disconnect();
    }
    await db?.drop();
    rmSync(project, { recursive: true, force: true });
  });

  it("resolves ioredis and BullMQ to the project's own copies, not copies of its own", () => {
    const fromSluice = createRequire(join(project, 'node_modules/sluice/dist/index.js'));
    const fromProject = createRequire(join(project, 'package.json'));
    for (const name of ['ioredis', 'bullmq']) {
      expect(fromSluice.resolve(name)).toBe(fromProject.resolve(name));
      expect(fromSluice.resolve(name)).toMatch(`${project}/node_modules/${name}/`);
    }
    const installed = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(installed.dependencies).sort()).toEqual([
      '@types/node',
      'fastify',
      'ioredis',
      'mysql2',
      'sluice',
      'typescript',
    ]);
  });

  it("type-checks the README's example with the latest TypeScript", () => {
    // Only the example's and Sluice's declarations are Sluice's to answer for.
    // Another package's own declarations may fail on their own: ioredis 6's
    // `import … from "redis-errors"` (a package without types) is TS7016
    // under TypeScript 7 with skipLibCheck off, in any project that uses it.
    expect({ diagnostics: ownDiagnostics(tsc?.stdout ?? ''), stderr: tsc?.stderr }).toEqual({
      diagnostics: [],
      stderr: '',
    });
    expect(existsSync(join(project, 'out/fastify-route.js'))).toBe(true);
  });

  it('runs the example: rows through the cache, kept fresh by the packaged daemon', async () => {
    if (db === undefined) throw new Error('no test database');
    const config = join(project, 'sluice.yaml');
    writeFileSync(
      config,
      `source:
  name: ${p}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
  startFrom: end
database:
  url: ${testEnv.appUrl}/${db.name}
redis:
  url: ${redisUrl.href}
invalidation:
  channel: sluice:test:${p}
rules:
  - table: ${db.name}.users
    keys: ["user:{id}"]
`,
    );
    const daemon = new Proc(
      process.execPath,
      [join(project, 'node_modules/.bin/sluice'), 'run', '--config', config],
      project,
      userEnv(),
    );
    running.push(daemon);
    await vi.waitFor(() => expect(daemon.stdout).toContain('binlog streaming'), {
      timeout: 15_000,
      interval: 50,
    });

    const port = await freePort();
    const app = new Proc(
      process.execPath,
      [join(project, 'out/fastify-route.js')],
      project,
      userEnv({ SLUICE_CONFIG: config, PORT: String(port) }),
    );
    running.push(app);
    await vi.waitFor(() => expect(app.stdout).toContain('\n'), { timeout: 15_000, interval: 50 });

    const get = async (path: string): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.json() };
    };
    expect(await get('/users/1')).toEqual({
      status: 200,
      body: { id: '1', email: 'ada@example.com', name: 'Ada' },
    });
    const redis = new Redis(redisUrl.href);
    try {
      expect(await redis.get('user:1')).toBe('v{"id":"1","email":"ada@example.com","name":"Ada"}');
    } finally {
      redis.disconnect();
    }
    await db.sql(`UPDATE users SET name = 'Ada Lovelace' WHERE id = 1`);
    await vi.waitFor(
      async () =>
        expect(await get('/users/1')).toEqual({
          status: 200,
          body: { id: '1', email: 'ada@example.com', name: 'Ada Lovelace' },
        }),
      { timeout: 10_000, interval: 50 },
    );
    expect(await get('/users/404')).toEqual({ status: 404, body: { error: 'no such user' } });

    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect({ stdout: app.stdout, stderr: app.stderr }).toEqual({
      stdout: `listening: curl -i http://127.0.0.1:${port}/users/1\n`,
      stderr: '',
    });
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });
});
