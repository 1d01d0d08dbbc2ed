import type { Cluster, Redis } from 'ioredis';
import { SluiceError } from '../../errors/index.js';
import { RedisKeys } from '../../keys/RedisKeys.js';
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

export function encodeCheckpoint(cp: Checkpoint): string {
  const o: Record<string, unknown> = { file: cp.position.file, pos: cp.position.pos };
  if (cp.gtid !== undefined) o.gtid = cp.gtid;
  o.at = cp.at ?? new Date().toISOString();
  return JSON.stringify(o);
}

export function decodeCheckpoint(raw: string, key: string): Checkpoint {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch (cause) {
    throw new SluiceError('E_POSITION_INVALID', `${key}: stored checkpoint is not JSON`, { cause });
  }
  const r = o as Record<string, unknown>;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.file !== 'string' ||
    !Number.isSafeInteger(r.pos) ||
    (r.gtid !== undefined && typeof r.gtid !== 'string')
  ) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${key}: stored checkpoint has an unexpected shape: ${raw}`,
    );
  }
  return {
    position: position(r.file, r.pos as number),
    gtid: r.gtid,
    at: typeof r.at === 'string' ? r.at : '',
  };
}

/** Reads and writes the checkpoint of one source in Redis. */
export class CheckpointStore {
  readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly source: string,
  ) {
    this.key = RedisKeys.checkpoint(source);
  }

  async read(): Promise<Checkpoint | null> {
    const raw = await this.redis.get(this.key);
    return raw === null ? null : decodeCheckpoint(raw, this.key);
  }

  async write(cp: Checkpoint): Promise<void> {
    await this.redis.set(this.key, encodeCheckpoint(cp));
  }
}
