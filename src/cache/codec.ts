/**
 * The one serializer of L2 entries. A cached value is `v` + its JSON; a
 * negative entry (the row does not exist) is the single character `n`. Any
 * other content is foreign and treated as a miss.
 */
export type Entry<T = unknown> =
  { readonly present: true; readonly value: T } | { readonly present: false };

export const ABSENT: Entry<never> = Object.freeze({ present: false });

export function encodeEntry(entry: Entry): string {
  return entry.present ? 'v' + JSON.stringify(entry.value) : 'n';
}

/** The JSON text of a present entry without parsing it, or null. */
export function entryJson(raw: string): string | null {
  return raw.charCodeAt(0) === 118 /* v */ ? raw.slice(1) : null;
}

export function decodeEntry<T = unknown>(raw: string | null | undefined): Entry<T> | null {
  if (raw === null || raw === undefined) return null;
  if (raw === 'n') return ABSENT;
  if (raw.charCodeAt(0) !== 118 /* v */) return null; // also '' (NaN)
  try {
    return { present: true, value: JSON.parse(raw.slice(1)) as T };
  } catch {
    return null;
  }
}
