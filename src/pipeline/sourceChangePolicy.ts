import { SluiceError } from '../errors/index.js';
import { gtidCovered } from './gtidCoverage.js';
import { formatPosition } from './position.js';
import type { ServerChange } from './source/ServerCheck.js';
import { describeServer } from './ServerIdentity.js';

/** What to do when another server answers than the checkpoint's. */
export type SourceChangeDecision =
  | { readonly action: 'follow'; readonly gtid: string }
  | { readonly action: 'flush'; readonly error: SluiceError }
  | { readonly action: 'fail'; readonly error: SluiceError };

/**
 * The rule behind SourcePolicy.onSourceChanged (policies/sourcePolicy.ts). Pure.
 *
 * A `FILE:POS` belongs to one server; GTIDs belong to the topology. When
 * the checkpoint carries GTIDs and the new server holds every transaction
 * they name, the stream follows from them: the server sends exactly what
 * comes after (the transactions it received from the old primary under
 * the same GTIDs, then its own). Otherwise nothing on the new server says
 * where the checkpoint is, and `onSourceChanged` decides: `fail` stops with
 * E_SOURCE_CHANGED, `flush` empties every mapped key space and continues
 * from the new server's end.
 */
export function decideSourceChange(
  change: ServerChange,
  policy: 'fail' | 'flush',
): SourceChangeDecision {
  const { from, now } = change;
  const gtid = from.gtid ?? '';
  const old = describeServer(from.server);
  const here = `${change.host} (${describeServer(now.identity)})`;
  const where =
    change.reason === 'identity'
      ? `${formatPosition(from.position)} belongs to ${old}, and ${here} answers instead`
      : from.server === undefined
        ? `${here} has other transactions at ${formatPosition(from.position)} than the checkpoint's GTIDs (another server behind the address?)`
        : `${here} has the server id of ${formatPosition(from.position)} but other transactions there (a rebuilt server?)`;
  const mysqlSet = gtid.includes(':');
  let why: string;
  if (gtid === '') {
    why = `${where}; the checkpoint has no GTID to find its place there`;
  } else if (now.gtidState === undefined) {
    why = `${where}; that server has no GTIDs (gtid_mode=OFF) to find the checkpoint's place`;
  } else if (mysqlSet !== (now.identity.kind === 'mysql')) {
    why = `${where}; the checkpoint's GTIDs (${gtid}) are of another flavor`;
  } else if (!gtidCovered(gtid, now.gtidState)) {
    why =
      `${where}; it lacks transactions the checkpoint covers (checkpoint ${gtid}, server ${now.gtidState || 'empty'}): ` +
      'they were lost in the failover, and values cached from them may be stale';
  } else {
    return { action: 'follow', gtid };
  }
  const error = new SluiceError(
    'E_SOURCE_CHANGED',
    policy === 'fail'
      ? `${why}. Flush the mapped key spaces and move the checkpoint (\`sluice position set\`), or restart with source.onSourceChanged: flush`
      : why,
    {
      details: {
        position: formatPosition(from.position),
        gtid: from.gtid,
        previous: old,
        now: describeServer(now.identity),
        host: change.host,
        reason: change.reason,
        policy,
      },
    },
  );
  return policy === 'flush' ? { action: 'flush', error } : { action: 'fail', error };
}
