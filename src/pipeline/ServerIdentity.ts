/**
 * Which server a binlog coordinate belongs to. A `FILE:POS` means nothing
 * on another server: a promoted replica writes binlog files of the same
 * names with other events at other offsets. MySQL names a server by
 * `@@server_uuid`; MariaDB has no uuid, so its identity is `@@server_id`
 * within its GTID domain (`@@gtid_domain_id`), backed by a check of the
 * binlog itself (see gtidMatchesAt).
 */
export interface ServerIdentity {
  readonly kind: 'mariadb' | 'mysql';
  readonly serverId: number;
  /** MySQL `@@server_uuid`. */
  readonly uuid?: string;
  /** MariaDB `@@gtid_domain_id`. */
  readonly domainId?: number;
}

/**
 * Whether two identities name the same server. A MySQL uuid is compared
 * without regard to case: the probe lowercases it, a checkpoint edited by
 * hand (or written by another tool) may not, and GTID sets compare uuids
 * the same way (gtidCoverage).
 */
export function sameServer(a: ServerIdentity, b: ServerIdentity): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'mysql') {
    return a.uuid !== undefined && b.uuid !== undefined
      ? a.uuid.toLowerCase() === b.uuid.toLowerCase()
      : a.serverId === b.serverId;
  }
  return a.serverId === b.serverId && (a.domainId ?? 0) === (b.domainId ?? 0);
}

/**
 * `mariadb server_id 2 (domain 0)`, `mysql 3e11fa47-… (server_id 1)`: for
 * logs and status; undefined (a checkpoint of an older version) is named so.
 */
export function describeServer(id: ServerIdentity | undefined): string {
  if (id === undefined) return 'a server it does not record';
  return id.kind === 'mysql'
    ? `mysql ${id.uuid ?? '?'} (server_id ${id.serverId})`
    : `mariadb server_id ${id.serverId} (domain ${id.domainId ?? 0})`;
}
