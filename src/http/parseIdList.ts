import { keyValue, type ColumnKind, type KeyParam } from '../db/columnKinds.js';
import { describeKind, isValidText } from './Resource.js';

/** The most ids one `?ids=` request may name (contract). */
export const MAX_IDS = 1000;

export type IdListResult =
  | { readonly ok: true; readonly ids: readonly { text: string; param: KeyParam }[] }
  | { readonly ok: false; readonly message: string };

/**
 * `?ids=3,1,3` → the distinct ids in request order, as canonical key text
 * and query parameter. At most `max` ids (counted before de-duplication);
 * an empty element or a value that is not of the column's kind is an error
 * naming its position.
 */
export function parseIdList(text: string, kind: ColumnKind, max = MAX_IDS): IdListResult {
  const parts = text.split(',');
  if (parts.length > max) {
    return { ok: false, message: `ids: at most ${max} ids per request (got ${parts.length})` };
  }
  const seen = new Set<string>();
  const ids: { text: string; param: KeyParam }[] = [];
  for (const [i, part] of parts.entries()) {
    const v = isValidText(kind, part) ? keyValue(kind, part) : null;
    if (v === null) return { ok: false, message: `ids[${i}]: must be ${describeKind(kind)}` };
    if (seen.has(v.text)) continue;
    seen.add(v.text);
    ids.push(v);
  }
  return { ok: true, ids };
}
