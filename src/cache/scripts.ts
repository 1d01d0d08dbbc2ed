import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/** The Lua scripts of the cache, by file name (`name-<numKeys>.lua`). */
const SCRIPTS = ['lease-get-2', 'lease-fill-2', 'lease-take-2', 'lock-release-1'] as const;

export type ScriptName = (typeof SCRIPTS)[number];

export type LeaseGetReply = [1, string] | [2, ''] | [3, string];

/** A client with the cache's scripts defined as commands (EVALSHA, EVAL on NOSCRIPT). */
export interface ScriptedClient {
  leaseGet(data: string, lease: string, token: string, leaseMs: number): Promise<LeaseGetReply>;
  leaseFill(
    data: string,
    lease: string,
    token: string,
    entry: string,
    ttlMs: number,
  ): Promise<number>;
  leaseTake(data: string, lease: string, token: string, leaseMs: number): Promise<number>;
  lockRelease(lock: string, token: string): Promise<number>;
}

const COMMAND: Record<ScriptName, keyof ScriptedClient> = {
  'lease-get-2': 'leaseGet',
  'lease-fill-2': 'leaseFill',
  'lease-take-2': 'leaseTake',
  'lock-release-1': 'lockRelease',
};

/** Defines the scripts on a client once; returns it typed. */
export function withScripts(client: Redis | Cluster): (Redis | Cluster) & ScriptedClient {
  const c = client as (Redis | Cluster) & Partial<ScriptedClient>;
  if (c.leaseGet === undefined) {
    for (const name of SCRIPTS) {
      const numberOfKeys = Number(name.slice(name.lastIndexOf('-') + 1));
      client.defineCommand(COMMAND[name], {
        numberOfKeys,
        lua: readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8'),
      });
    }
  }
  return c as (Redis | Cluster) & ScriptedClient;
}
