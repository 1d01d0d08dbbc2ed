import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readmeEmbeddingExample } from '../helpers/readme.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Manifest {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  engines: { node: string };
}
interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  engines?: { node?: string };
}

const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

/** The packages (not node: modules, not relative paths) that src/ imports, type-only ones included. */
function importedPackages(dir: string): Set<string> {
  const names = new Set<string>();
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    const statics = text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^'.\n][^'\n]*)'/gm);
    const dynamics = text.matchAll(/\bimport\('([^'.\n][^'\n]*)'\)/g);
    for (const m of [...statics, ...dynamics]) {
      const spec = m[1] as string;
      if (spec.startsWith('node:')) continue;
      const parts = spec.split('/');
      names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
    }
  }
  return names;
}

describe('the package as published and as the Docker image installs it', () => {
  it('the README embedding example is examples/fastify-route.ts (the file example.test.ts runs), verbatim', () => {
    expect(readmeEmbeddingExample()).toBe(read('examples/fastify-route.ts'));
  });

  it('everything src/ imports is a dependency or a peer, and `npm prune --omit=dev` (the Dockerfile) keeps it', () => {
    const manifest = JSON.parse(read('package.json')) as Manifest;
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, LockEntry>;
    };
    const imported = [...importedPackages('src')].sort();
    expect(imported).toContain('ioredis');
    for (const name of imported) {
      const declared = manifest.dependencies[name] ?? manifest.peerDependencies[name];
      expect(declared, `${name} is neither a dependency nor a peer`).toBeDefined();
      const locked = lock.packages[`node_modules/${name}`];
      expect(locked, `${name} is not in package-lock.json`).toBeDefined();
      // A devDependency entry beside the peer entry makes npm flag the package
      // dev (pruned by --omit=dev) or devOptional (kept only while some
      // optional edge, such as BullMQ's optional ioredis peer, still needs it).
      expect({ name, dev: locked?.dev, devOptional: locked?.devOptional }).toEqual({
        name,
        dev: undefined,
        devOptional: undefined,
      });
    }
  });

  it('every package the lock installs accepts the lowest version of each major `engines` allows', () => {
    // `engine-strict` installs refuse a package whose own `engines` excludes
    // the running Node: the tree must be as wide as our `engines` says.
    const manifest = JSON.parse(read('package.json')) as Manifest;
    const lowest = manifest.engines.node.split('||').map((r) => semver.minVersion(r)?.version);
    expect(lowest).toEqual(['20.19.0', '24.0.0']);
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, LockEntry>;
    };
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = entry.engines?.node;
      if (path === '' || range === undefined) continue;
      for (const node of lowest as string[])
        if (!semver.satisfies(node, range))
          refused.push(`${path}@${entry.version}: ${range} (${node})`);
    }
    expect(refused).toEqual([]);
  });

  it("CI's Node 24 is the Docker image's base, and the README names it", () => {
    const ci = /^NODE24_VERSION=(\S+)$/m.exec(read('.ci/run'))?.[1];
    expect(ci).toMatch(/^24\.\d+\.\d+$/);
    const bases = [...read('Dockerfile').matchAll(/^FROM node:(\S+?)-bookworm-slim\b/gm)].map(
      (m) => m[1],
    );
    expect(bases).toEqual([ci, ci]);
    expect(read('README.md')).toContain(`Node ${ci}`);
  });

  it("the image's daemon keeps Node 20's young generation (16 MB semi-spaces), and the README says why", () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(JSON.parse(entry ?? 'null')).toEqual([
      'node',
      '--max-semi-space-size=16',
      'bin/sluice.js',
    ]);
    expect(read('README.md')).toContain('--max-semi-space-size=16');
  });
});
