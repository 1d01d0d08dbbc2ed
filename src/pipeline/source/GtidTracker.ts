import { GtidSet, MariadbGtidPosition } from '@vlasky/zongji';

/**
 * The GTIDs of everything read up to the last transaction boundary: what
 * the checkpoint stores beside `FILE:POS`, so that another server of the
 * topology can be asked for "everything after this" (MariaDB: the last
 * GTID per domain, `0-1-42,1-2-7`; MySQL: the executed set,
 * `uuid:1-42,uuid2:1-7`). Sequence numbers stay exact (64-bit): MariaDB's
 * are kept as the text of the GTID, MySQL's in zongji's own model.
 *
 * It has to start from a known point: a GTID start, the server's own state
 * for a start at the end, or the position stored with the checkpoint. From
 * an unknown point, MariaDB still learns each domain from its next
 * transaction (the position is per domain), while a MySQL set stays
 * unknown: a partial set would claim too little, never too much, but it
 * would make a failover re-read (or fail on) the whole history.
 *
 * Called at every commit (the hot path): a MariaDB GTID is stored as the
 * text zongji gave it, and the position's text is rebuilt only when it has
 * more than one domain; with one (the usual case) it is that GTID itself.
 */
export class GtidTracker {
  /** MariaDB: the last GTID per domain id, as text (`0-1-42`); null for MySQL. */
  private domains: Map<number, string> | null = null;
  /** MySQL: the executed set, null when unknown. */
  private set: GtidSet | null = null;
  /** The text of the position or set, rebuilt lazily; undefined: not built yet. */
  private text: string | undefined = undefined;

  /** Starts from `text` (a position or set of the given flavor); undefined: unknown. */
  seed(kind: 'mariadb' | 'mysql', text: string | undefined): void {
    this.text = undefined;
    if (kind === 'mysql') {
      this.domains = null;
      this.set = text === undefined ? null : GtidSet.parse(text);
      return;
    }
    this.set = null;
    this.domains = new Map();
    // Parsed by zongji's model: validated, one entry per domain, canonical text.
    const parsed = MariadbGtidPosition.parse(text ?? '');
    for (const entry of parsed.toString().split(',')) {
      if (entry !== '') this.domains.set(domainOf(entry), entry);
    }
  }

  /** A transaction ended: `gtid` is its GTID (`0-1-43`, `uuid:43`), undefined for anonymous ones. */
  add(gtid: string | undefined): void {
    if (gtid === undefined) return;
    if (this.domains !== null) {
      this.domains.set(domainOf(gtid), gtid);
      this.text = this.domains.size === 1 ? gtid : undefined;
      return;
    }
    if (this.set === null) return;
    this.set.add(gtid);
    this.text = undefined;
  }

  /** The position or set so far; undefined when unknown (or still empty). */
  get current(): string | undefined {
    if (this.text !== undefined) return this.text;
    if (this.domains !== null) {
      if (this.domains.size === 0) return undefined;
      this.text = [...this.domains]
        .sort(([a], [b]) => a - b)
        .map(([, entry]) => entry)
        .join(',');
      return this.text;
    }
    if (this.set === null || this.set.isEmpty()) return undefined;
    this.text = this.set.toString();
    return this.text;
  }
}

/** The domain id of a MariaDB GTID (`0-1-42` → 0): the digits before the first dash. */
function domainOf(gtid: string): number {
  return Number(gtid.slice(0, gtid.indexOf('-')));
}
