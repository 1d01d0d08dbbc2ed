import { z } from 'zod';
import { SluiceError } from '../../errors/index.js';
import { position, type BinlogPosition } from '../position.js';
import type { ServerIdentity } from '../ServerIdentity.js';

/**
 * The stored checkpoint (contract): `{"file","pos","gtid","at"}`, and
 * `"server"`, the identity of the server `file`/`pos` belong to
 * (`{"kind":"mariadb","serverId":1,"domainId":0}` or
 * `{"kind":"mysql","serverId":1,"uuid":"…"}`; optional: older records lack it).
 */
export interface Checkpoint {
  readonly position: BinlogPosition;
  /** The GTIDs of everything up to `position`: a MariaDB GTID position or a MySQL GTID set. */
  readonly gtid: string | undefined;
  /** The server `position` belongs to; undefined when unknown (an older record, `position set`). */
  readonly server?: ServerIdentity | undefined;
  /**
   * When the checkpoint was written (ISO-8601; '' when a stored one lacks
   * it). The daemon leaves it out: it is stamped when the record is encoded,
   * once per coalesced write instead of once per transaction.
   */
  readonly at?: string;
}

/** The checkpoint of a transaction boundary read from the binlog (a commit, or a standalone DDL). */
export function checkpointOf(boundary: {
  readonly position: BinlogPosition;
  readonly gtid: string | undefined;
  readonly server: ServerIdentity | undefined;
}): Checkpoint {
  return { position: boundary.position, gtid: boundary.gtid, server: boundary.server };
}

/** The record as stored; unknown fields are kept out, not rejected (newer writers may add some). */
const StoredCheckpoint = z.object({
  file: z.string().min(1),
  pos: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  gtid: z.string().optional(),
  at: z.string().optional(),
  server: z
    .object({
      kind: z.enum(['mariadb', 'mysql']),
      serverId: z.number().int().nonnegative(),
      uuid: z.string().optional(),
      domainId: z.number().int().nonnegative().optional(),
    })
    .optional(),
});

export function encodeCheckpoint(cp: Checkpoint): string {
  const o: Record<string, unknown> = { file: cp.position.file, pos: cp.position.pos };
  if (cp.gtid !== undefined) o.gtid = cp.gtid;
  if (cp.server !== undefined) o.server = serverRecord(cp.server);
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
  const server = r.server === undefined ? undefined : identityOf(r.server);
  return {
    position: position(r.file, r.pos),
    gtid: r.gtid,
    at: r.at ?? '',
    ...(server === undefined ? {} : { server }),
  };
}

/** The identity as stored: fixed key order, no undefined fields. */
function serverRecord(id: ServerIdentity): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: id.kind, serverId: id.serverId };
  if (id.uuid !== undefined) o.uuid = id.uuid;
  if (id.domainId !== undefined) o.domainId = id.domainId;
  return o;
}

function identityOf(r: {
  kind: 'mariadb' | 'mysql';
  serverId: number;
  uuid?: string | undefined;
  domainId?: number | undefined;
}): ServerIdentity {
  return {
    kind: r.kind,
    serverId: r.serverId,
    ...(r.uuid === undefined ? {} : { uuid: r.uuid }),
    ...(r.domainId === undefined ? {} : { domainId: r.domainId }),
  };
}
