/**
 * Row values as the cache stores and the API returns them: JSON-safe and
 * exact. Integers beyond 2^53 and DECIMALs stay strings (mysql2 is set up
 * with `supportBigNumbers` + `bigNumberStrings`, so they arrive as strings),
 * DATETIME/TIMESTAMP become ISO-8601 UTC strings, binary becomes base64.
 */
export type JsonRow = Record<string, string | number | boolean | null | JsonRowValue>;
type JsonRowValue = readonly unknown[] | { readonly [k: string]: unknown };

export function normalizeRow(row: Record<string, unknown>): JsonRow {
  const out: JsonRow = {};
  for (const [k, v] of Object.entries(row)) out[k] = normalizeValue(v);
  return out;
}

function normalizeValue(v: unknown): JsonRow[string] {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return v as JsonRowValue;
}

/** Canonical JSON (sorted keys) for comparing a cached row with a fresh one. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}
