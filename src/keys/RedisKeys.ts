import { crc16, hashTag, keySlot } from './slot.js';

/**
 * Every Redis key name Sluice itself owns is built here (data keys come from
 * KeyTemplate). Keys derived from a data key (its lease and lock) always land
 * in the data key's Redis Cluster slot, so one Lua script or one UNLINK can
 * touch both.
 */
export const RedisKeys = {
  /** `sluice:checkpoint:{source}`: the stored binlog position (contract). */
  checkpoint(source: string): string {
    return `sluice:checkpoint:${source}`;
  },
  /** Daemon heartbeat/status record for `sluice status`. */
  status(source: string): string {
    return `sluice:status:${source}`;
  },
  /** The last fatal error a daemon of this source recorded (JSON, kept after exit). */
  lastError(source: string): string {
    return `sluice:error:${source}`;
  },
  /**
   * The BullMQ prefix of a source's durable jobs (write-behind, second
   * delete). The hash tag keeps every key of those queues in one cluster
   * slot, as BullMQ requires.
   */
  jobsPrefix(source: string): string {
    return `sluice:jobs:{${source}}`;
  },
  /** The leader lease of a source (value: the leading instance), in the checkpoint key's slot. */
  leader(source: string): string {
    return sameSlot('sluice:leader:', `sluice:checkpoint:${source}`);
  },
  /** The fencing counter of a source, in the checkpoint key's cluster slot. */
  fence(source: string): string {
    return sameSlot('sluice:fence:', `sluice:checkpoint:${source}`);
  },
  /** The lease guarding fills of `dataKey` (see src/cache). */
  lease(dataKey: string): string {
    return sameSlot('sluice:lease:', dataKey);
  },
  /**
   * Globs matching the lease keys of every data key `dataPattern` matches
   * (for key-space flushes). They may match a little more: removing a lease
   * only aborts a fill, which is always safe.
   */
  leasePatterns(dataPattern: string): string[] {
    return derivedPatterns('sluice:lease:', dataPattern);
  },
  /** The distributed lock of `dataKey` (cacheAsideWithLock). */
  lock(dataKey: string): string {
    return sameSlot('sluice:lock:', dataKey);
  },
} as const;

/** The globs of `derivedKey(prefix, k)` for every k matching `dataPattern`. */
function derivedPatterns(prefix: string, dataPattern: string): string[] {
  return [
    `${prefix}t:${dataPattern}`,
    `${prefix}w:{${dataPattern}}`,
    `${prefix}s:${dataPattern}:*`,
  ];
}

const derivedCache = new Map<string, string>();
const DERIVED_CACHE_MAX = 10_000;

/**
 * A key derived from `dataKey`, in the same cluster slot, one-to-one (a
 * marker letter per form keeps the forms from colliding):
 * - dataKey has a hash tag: `prefix t:dataKey` keeps that tag (prefix has no braces);
 * - dataKey has no `}`: `prefix w:{dataKey}` makes the whole data key the tag;
 * - otherwise (a `}` but no usable tag, or the empty key; rare):
 *   `prefix s:dataKey:n` with the smallest n that hashes to the data key's
 *   slot (deterministic; n has no `:`, so the form is one-to-one too).
 */
function sameSlot(prefix: string, dataKey: string): string {
  if (hashTag(dataKey) !== null) return `${prefix}t:${dataKey}`;
  // An empty data key cannot be wrapped: `{}` is an empty tag, which Redis
  // ignores (the whole key would be hashed). It takes the search below.
  if (dataKey !== '' && !dataKey.includes('}')) return `${prefix}w:{${dataKey}}`;
  const cacheKey = prefix + dataKey;
  const hit = derivedCache.get(cacheKey);
  if (hit !== undefined) return hit;
  const target = keySlot(dataKey);
  const base = `${prefix}s:${dataKey}:`;
  // hashTag(base + n) is null: the prefix has no "{" and the data key has no
  // usable tag, so the whole key is hashed; continue the CRC from base.
  const seed = crc16(Buffer.from(base));
  let n = 0;
  while ((crc16(Buffer.from(String(n)), seed) & 0x3fff) !== target) n++;
  const key = base + String(n);
  if (derivedCache.size >= DERIVED_CACHE_MAX) derivedCache.clear();
  derivedCache.set(cacheKey, key);
  return key;
}
