import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, writeConfig } from '../helpers/cli.js';
import { TestDb } from '../helpers/db.js';
import { randomId, randomServerId, testEnv } from '../helpers/env.js';

/** `sluice replay` progress: JSON lines on a pipe, a bar on a terminal (util-linux `script`). */
describe('sluice replay progress', () => {
  let db: TestDb;
  let config: string;
  let from: string;
  let to: string;
  const prefix = `rp${randomId()}`;

  beforeAll(async () => {
    db = await TestDb.create();
    await db.sql('CREATE TABLE items (id INT PRIMARY KEY, v INT NOT NULL)');
    from = await db.headText();
    for (let t = 0; t < 10; t++) {
      const values = Array.from({ length: 100 }, (_, i) => `(${t * 100 + i + 1}, ${t})`).join(', ');
      await db.sql(`INSERT INTO items VALUES ${values}`);
    }
    to = await db.headText();
    config = writeConfig(`
source:
  name: rp-${randomId()}
  url: ${testEnv.sourceUrl}/${db.name}
  serverId: ${randomServerId()}
redis:
  url: ${testEnv.redisUrl}
rules:
  - table: ${db.name}.items
    keys: ["${prefix}:item:{id}"]
`);
  });

  afterAll(async () => {
    await db.drop();
  });

  it('off a terminal: JSON progress lines on stderr, the last one the whole range', async () => {
    const res = await runCli([
      'replay',
      '--from',
      from,
      '--to',
      to,
      '--dry-run',
      '--config',
      config,
    ]);
    expect(res.code).toBe(0);
    expect(res.stdout.trimEnd().split('\n')).toHaveLength(1000);
    const progress = res.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({
      type: 'progress',
      position: to,
      percent: 100,
      rows: 1000,
      keys: 1000,
      etaSeconds: 0,
    });
    expect(last?.doneBytes).toBe(last?.totalBytes);
    expect(last?.totalBytes as number).toBeGreaterThan(0);
    expect(typeof last?.rowsPerSec).toBe('number');
    expect(res.stderr).toMatch(/replay .* \(dry run\): \d+ events, 1000 rows, 1000 keys in/);
  });

  it('on a terminal: a progress bar with rows/s, keys/s and ETA', async () => {
    const child = spawn(
      'script',
      [
        '-q',
        '-f',
        '-e',
        '-c',
        `${process.execPath} ${BIN} replay --from ${from} --to ${to} --dry-run --config ${config} > /dev/null`,
        '/dev/null',
      ],
      { cwd: ROOT, env: { ...process.env, TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `\\[#{30}\\] 100\\.0%  ${to.replace('.', '\\.')}  \\d+ rows/s  \\d+ keys/s  ETA 0:00`,
      ),
    );
    expect(out).toContain('\r\x1b[K[');
    expect(out).not.toContain('"type":"progress"');
  });
});
