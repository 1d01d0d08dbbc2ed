import { GtidSet, MariadbGtidPosition } from '@vlasky/zongji';

/**
 * The GTIDs of everything read up to the last transaction boundary: what
 * the checkpoint stores beside `FILE:POS`, so that another server of the
 * topology can be asked for "everything after this" (MariaDB: the last
 * GTID per domain, `0-1-42,1-2-7`; MySQL: the executed set,
 * `uuid:1-42,uuid2:1-7`). zongji's own models keep 64-bit sequence numbers
 * exact.
 *
 * It has to start from a known point: a GTID start, the server's own state
 * for a start at the end, or the position stored with the checkpoint. From
 * an unknown point, MariaDB still learns each domain from its next
 * transaction (the position is per domain), while a MySQL set stays
 * unknown: a partial set would claim too little, never too much, but it
 * would make a failover re-read (or fail on) the whole history.
 */
export class GtidTracker {
  private state: GtidSet | MariadbGtidPosition | null = null;

  /** Starts from `text` (a position or set of the given flavor); undefined: unknown. */
  seed(kind: 'mariadb' | 'mysql', text: string | undefined): void {
    if (text === undefined) {
      this.state = kind === 'mariadb' ? new MariadbGtidPosition() : null;
      return;
    }
    this.state = kind === 'mariadb' ? MariadbGtidPosition.parse(text) : GtidSet.parse(text);
  }

  /** A transaction ended: `gtid` is its GTID (`0-1-43`, `uuid:43`), undefined for anonymous ones. */
  add(gtid: string | undefined): void {
    if (gtid === undefined || this.state === null) return;
    if (this.state instanceof GtidSet) {
      this.state.add(gtid);
      return;
    }
    const [domainId = '', serverId = '', seqNo = ''] = gtid.split('-');
    this.state.add({ domainId: Number(domainId), serverId: Number(serverId), seqNo });
  }

  /** The position or set so far; undefined when unknown (or still empty). */
  get current(): string | undefined {
    if (this.state === null || this.state.isEmpty()) return undefined;
    return this.state.toString();
  }
}
