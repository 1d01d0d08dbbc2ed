import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/schema.js';
import { ERROR_CODES } from '../../src/errors/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/**
 * Leaf paths of a normalised config as the README names them:
 * `source.reconnect.maxDelayMs`, `rules[].keys[]`, `api.resources.NAME.list.by`.
 */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) {
    const first: unknown = value[0];
    return first !== null && typeof first === 'object'
      ? leafPaths(first, `${prefix}[]`)
      : [`${prefix}[]`];
  }
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    if (k === 'resources') return leafPaths((v as Record<string, unknown>).name, `${path}.NAME`);
    return leafPaths(v, path);
  });
}

describe('README reference tables match the code', () => {
  it('the error-code table lists exactly the codes of the catalog', () => {
    const documented = [...readme.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('the configuration table documents every field of the schema, and no other', () => {
    const config = validateConfig({
      source: { url: 'mysql://u@h/db' },
      redis: { url: 'redis://h' },
      rules: [{ table: 'a.b', keys: ['k:{id}', 'l:{c}'] }],
      api: {
        resources: {
          name: { table: 'a.b', key: 'k:{id}', list: { by: 'c', cursor: 'id', key: 'l:{c}' } },
        },
      },
    });
    const fields = leafPaths(config);
    const documented = [...readme.matchAll(/^\| `([a-z][A-Za-z.[\]A-Z]+)` \|/gm)].map(
      (m) => m[1] as string,
    );
    for (const field of fields) expect(documented, `README lacks ${field}`).toContain(field);
    // optional, no default
    const known = new Set([
      ...fields,
      'api.token',
      'metrics.listen',
      'redis.name',
      'redis.username',
      'redis.password',
      'redis.db',
      'redis.sentinelUsername',
      'redis.sentinelPassword',
    ]);
    for (const doc of documented) expect(known, `README documents unknown ${doc}`).toContain(doc);
  });
});
