import { decodeEntry } from '../cache/codec.js';
import { canonicalJson, type JsonRow } from '../db/rows.js';

/** What one read of a key saw, in the order it was read: Redis, the API, the database. */
export interface Observation {
  readonly key: string;
  /** The raw L2 entry (`v{…}`, `n`), or null when Redis holds none. */
  readonly cached: string | null;
  /** The answer of `GET /v1/{resource}/{id}` through `sluice serve` (with `--api`). */
  readonly api: { readonly status: number; readonly body: string } | null;
  /** The row as the cache would load it, or null when it does not exist. */
  readonly row: JsonRow | null;
}

/** Where a disagreement with the database was seen. */
export type Layer = 'l2' | 'api';

/**
 * The layers whose answer disagrees with the database row: an L2 entry
 * holding another row (or a row that no longer exists, or `n` for a row that
 * exists), or an API answer that does the same. No entry, and entries that
 * are not Sluice's (`decodeEntry` refuses them), hold nothing that could be
 * served stale. An API status other than 200/404 is not a verdict (`error`).
 */
export function disagreements(obs: Observation): { layers: Layer[]; apiError: boolean } {
  const layers: Layer[] = [];
  const want = obs.row === null ? null : canonicalJson(obs.row);
  const entry = decodeEntry(obs.cached); // null: no entry, or not Sluice's
  if (entry !== null) {
    const have = entry.present ? canonicalJson(entry.value) : null;
    if (have !== want) layers.push('l2');
  }
  let apiError = false;
  if (obs.api !== null) {
    if (obs.api.status === 200 || obs.api.status === 404) {
      let have: string | null = null;
      if (obs.api.status === 200) {
        try {
          have = canonicalJson(JSON.parse(obs.api.body));
        } catch {
          have = obs.api.body; // not JSON: cannot equal a row
        }
      }
      if (have !== want) layers.push('api');
    } else {
      apiError = true;
    }
  }
  return { layers, apiError };
}

/** Whether a layer answered exactly the same at two reads (same bytes). */
export function sameAnswer(layer: Layer, a: Observation, b: Observation): boolean {
  if (layer === 'l2') return a.cached === b.cached;
  return a.api?.status === b.api?.status && a.api?.body === b.api?.body;
}

/** Whether the database row is the same at two reads. */
export function sameRow(a: Observation, b: Observation): boolean {
  return (
    (a.row === null ? null : canonicalJson(a.row)) ===
    (b.row === null ? null : canonicalJson(b.row))
  );
}
