import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/**
 * The checkpoint, leader-lease and round scripts (`name-<numKeys>.lua`,
 * KEYS/ARGV in each header).
 */
export type CheckpointScript =
  | 'checkpoint-set-2'
  | 'round-2'
  | 'primary-identity-1'
  | 'leader-acquire-2'
  | 'leader-renew-2'
  | 'leader-check-2'
  | 'leader-release-1';

const cache = new Map<CheckpointScript, string>();

/** The source of a script, read once (sent with EVAL: ioredis caches nothing for plain eval). */
export function luaScript(name: CheckpointScript): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
    cache.set(name, text);
  }
  return text;
}
