import { formatPosition, type BinlogPosition } from '../position.js';
import type { ServerIdentity } from '../ServerIdentity.js';

/**
 * Where the stream starts: a stored position, a GTID set, or the server's
 * current end. A position carries the GTIDs of everything before it and
 * the server it belongs to, when known: a `FILE:POS` is only ever asked of
 * that server.
 */
export type StartPoint =
  | {
      readonly kind: 'position';
      readonly position: BinlogPosition;
      readonly gtid?: string | undefined;
      readonly server?: ServerIdentity | undefined;
    }
  | { readonly kind: 'gtid'; readonly gtid: string }
  | { readonly kind: 'end' };

/** The start point as logs and errors name it: `binlog.000003:1234`, `gtid:0-1-42`, `end`. */
export function describeStart(from: StartPoint): string {
  switch (from.kind) {
    case 'position':
      return formatPosition(from.position);
    case 'gtid':
      return `gtid:${from.gtid}`;
    case 'end':
      return 'end';
  }
}
