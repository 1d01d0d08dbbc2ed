/**
 * The invalidation message on the bus (contract, version 1):
 *   {"v":1,"src":"main","seq":17,"keys":["user:1"],"pos":"binlog.000003:1234"}
 *   {"v":1,"src":"main","seq":18,"patterns":["user:*"],"pos":"…"}   (TRUNCATE/DROP)
 *   {"v":1,"src":"main","seq":19,"flush":true}                        (everything)
 *   {"v":1,"src":"main","seq":19,"type":"hb"}                         (heartbeat, repeats seq)
 *
 * The watermark (read your own writes; optional, readers that do not know
 * it ignore it): a daemon's message names in `pos` and `gtid` the newest
 * transaction boundary through which every invalidation is acknowledged
 * (its own batch's, or the last one before it); a heartbeat carries the
 * newest acknowledged boundary in the same two fields.
 *   {"v":1,"src":"main","seq":17,"keys":["user:1"],"pos":"binlog.000003:1234","gtid":"0-1-42"}
 *   {"v":1,"src":"main","seq":17,"type":"hb","pos":"binlog.000003:1300","gtid":"0-1-43"}
 */
export type BusMessage =
  | {
      readonly v: 1;
      readonly src: string;
      readonly seq: number;
      readonly type: 'inv';
      readonly keys: readonly string[];
      readonly patterns: readonly string[];
      readonly flush: boolean;
      readonly pos: string | undefined;
      readonly gtid: string | undefined;
    }
  | {
      readonly v: 1;
      readonly src: string;
      readonly seq: number;
      readonly type: 'hb';
      readonly pos: string | undefined;
      readonly gtid: string | undefined;
    };

/** The watermark fields of a message or heartbeat. */
export interface WatermarkFields {
  readonly pos?: string;
  readonly gtid?: string;
}

/**
 * Messages larger than this are refused by decode (a foreign or corrupt
 * publisher). The daemon's largest message is one batch: batchMaxKeys keys.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export function encodeInvalidation(
  src: string,
  seq: number,
  body: {
    keys?: readonly string[];
    patterns?: readonly string[];
    flush?: boolean;
    pos?: string;
    gtid?: string;
  },
): string {
  const msg: Record<string, unknown> = { v: 1, src, seq };
  if (body.keys && body.keys.length > 0) msg.keys = body.keys;
  if (body.patterns && body.patterns.length > 0) msg.patterns = body.patterns;
  if (body.flush) msg.flush = true;
  msg.pos = body.pos; // JSON.stringify leaves these out when undefined
  msg.gtid = body.gtid;
  return JSON.stringify(msg);
}

export function encodeHeartbeat(src: string, seq: number, mark: WatermarkFields = {}): string {
  return JSON.stringify({ v: 1, src, seq, type: 'hb', pos: mark.pos, gtid: mark.gtid });
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((k) => typeof k === 'string');
}

/**
 * Decodes and validates a bus message; returns null for anything malformed,
 * oversized or of another version (the caller counts and ignores those).
 */
export function decodeMessage(
  raw: string | Buffer,
  maxBytes = MAX_MESSAGE_BYTES,
): BusMessage | null {
  if (raw.length > maxBytes) return null;
  let m: unknown;
  try {
    m = JSON.parse(raw.toString()); // a Buffer's toString is UTF-8
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const o = m as Record<string, unknown>;
  if (
    o.v !== 1 ||
    typeof o.src !== 'string' ||
    !Number.isSafeInteger(o.seq) ||
    (o.seq as number) < 0
  ) {
    return null;
  }
  const seq = o.seq as number;
  if (o.pos !== undefined && typeof o.pos !== 'string') return null;
  if (o.gtid !== undefined && typeof o.gtid !== 'string') return null;
  if (o.type === 'hb') return { v: 1, src: o.src, seq, type: 'hb', pos: o.pos, gtid: o.gtid };
  if (o.type !== undefined) return null;
  const keys = o.keys ?? [];
  const patterns = o.patterns ?? [];
  if (!isStringArray(keys) || !isStringArray(patterns)) return null;
  if (o.flush !== undefined && typeof o.flush !== 'boolean') return null;
  return {
    v: 1,
    src: o.src,
    seq,
    type: 'inv',
    keys,
    patterns,
    flush: o.flush === true,
    pos: o.pos,
    gtid: o.gtid,
  };
}
