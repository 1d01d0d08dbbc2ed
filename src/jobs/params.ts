/**
 * SQL parameters as they travel inside a job. BullMQ stores job data as JSON,
 * which cannot hold a BigInt (JSON.stringify throws), turns a Date into text
 * and a Buffer into `{type, data}`. Each value is encoded here, once, at
 * enqueue time (so a bad parameter fails the caller, not a job hours later),
 * and decoded by the worker into what mysql2 binds:
 *
 * - string, finite number, boolean, null: as is;
 * - bigint: `{"$bigint": decimal text}` → BigInt, which mysql2 writes as an
 *   exact integer literal (a plain string would do in `WHERE id = ?`, but
 *   `n + ?` would then be computed in floating point);
 * - Date: `{"$date": ISO text}` → Date (bound by mysql2 like any Date);
 * - Buffer / Uint8Array: `{"$bytes": base64}` → Buffer.
 *
 * Anything else (undefined, NaN, objects, arrays) is refused: mysql2 would
 * refuse or mangle it too, only later and further from the cause.
 */
export type JsonParam =
  string | number | boolean | null | { $bigint: string } | { $date: string } | { $bytes: string };

/** A parameter that cannot travel in a job, or job data no encoder wrote. */
export class ParamError extends TypeError {
  override readonly name = 'ParamError';
}

/** A value `decodeParams` produces: what the worker binds. */
export type SqlParam = string | number | boolean | null | bigint | Date | Buffer;

/** Encodes parameters for a job's JSON data; throws a ParamError (a TypeError) naming the bad index. */
export function encodeParams(params: readonly unknown[]): JsonParam[] {
  return params.map((value, i) => encodeParam(value, i));
}

function encodeParam(value: unknown, i: number): JsonParam {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw badParam(i, String(value));
      return value;
    case 'bigint':
      return { $bigint: value.toString() };
    case 'object':
      if (value === null) return null;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw badParam(i, 'an invalid Date');
        return { $date: value.toISOString() };
      }
      if (value instanceof Uint8Array) {
        return {
          $bytes: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64'),
        };
      }
      throw badParam(i, Array.isArray(value) ? 'an array' : 'an object');
    default:
      throw badParam(i, typeof value);
  }
}

function badParam(i: number, what: string): ParamError {
  return new ParamError(
    `write-behind params[${i}] is ${what}: use a string, finite number, bigint, boolean, null, Date or Buffer`,
  );
}

/** Decodes a job's parameters; throws a ParamError on data no encoder wrote. */
export function decodeParams(params: unknown): SqlParam[] {
  if (!Array.isArray(params)) throw new ParamError('write-behind job params is not an array');
  return params.map((value: unknown, i): SqlParam => {
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
        return value;
      if (value === null) return null;
      throw new ParamError(`write-behind job params[${i}] is ${typeof value}`);
    }
    const o = value as Record<string, unknown>;
    if (typeof o.$bigint === 'string' && /^-?\d+$/.test(o.$bigint)) return BigInt(o.$bigint);
    if (typeof o.$date === 'string') return new Date(o.$date);
    if (typeof o.$bytes === 'string') return Buffer.from(o.$bytes, 'base64');
    throw new ParamError(`write-behind job params[${i}] is an unknown object`);
  });
}
