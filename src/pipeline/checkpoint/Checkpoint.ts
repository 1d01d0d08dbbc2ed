import { z } from 'zod';
import { SluiceError } from '../../errors/index.js';
import { position, type BinlogPosition } from '../position.js';

/** The stored checkpoint (contract): `{"file","pos","gtid","at"}`. */
export interface Checkpoint {
  readonly position: BinlogPosition;
  readonly gtid: string | undefined;
  /**
   * When the checkpoint was written (ISO-8601; '' when a stored one lacks
   * it). The daemon leaves it out: it is stamped when the record is encoded,
   * once per coalesced write instead of once per transaction.
   */
  readonly at?: string;
}

/** The record as stored; unknown fields are kept out, not rejected (newer writers may add some). */
const StoredCheckpoint = z.object({
  file: z.string().min(1),
  pos: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  gtid: z.string().optional(),
  at: z.string().optional(),
});

export function encodeCheckpoint(cp: Checkpoint): string {
  const o: Record<string, unknown> = { file: cp.position.file, pos: cp.position.pos };
  if (cp.gtid !== undefined) o.gtid = cp.gtid;
  o.at = cp.at ?? new Date().toISOString();
  return JSON.stringify(o);
}

/** Decodes a stored checkpoint; E_POSITION_INVALID names the key and what is wrong. */
export function decodeCheckpoint(raw: string, key: string): Checkpoint {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch (cause) {
    throw new SluiceError('E_POSITION_INVALID', `${key}: stored checkpoint is not JSON`, { cause });
  }
  const parsed = StoredCheckpoint.safeParse(o);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue === undefined ? '' : ` (${issue.path.join('.') || 'record'}: ${issue.message})`;
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${key}: stored checkpoint has an unexpected shape${field}: ${raw}`,
    );
  }
  const r = parsed.data;
  return { position: position(r.file, r.pos), gtid: r.gtid, at: r.at ?? '' };
}
