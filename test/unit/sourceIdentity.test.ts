import { describe, expect, it } from 'vitest';
import { thrown } from '../helpers/errors.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { gtidCovered } from '../../src/pipeline/gtidCoverage.js';
import { position } from '../../src/pipeline/position.js';
import { describeServer, sameServer } from '../../src/pipeline/ServerIdentity.js';
import type { ServerChange } from '../../src/pipeline/source/ServerCheck.js';
import { GtidTracker } from '../../src/pipeline/source/GtidTracker.js';
import { gtidMatchesAt, parseProbe, PROBE_SQL } from '../../src/pipeline/source/ServerProbe.js';
import { decideSourceChange } from '../../src/pipeline/sourceChangePolicy.js';
import { hostOf, splitSourceHosts } from '../../src/infra/sourceHosts.js';
import {
  MYSQL84_GTID_EXECUTED,
  MYSQL84_UUID,
  MYSQL84_UUID2,
  MYSQL84_VARIABLES,
} from '../fixtures/sourceServers.js';

/** `@@gtid_executed` of the MySQL 8.4 fixture as parseProbe keeps it (no line breaks): uuid2:1-27,uuid:1-5:11-18:batch_job:1-3. */
const EXECUTED = MYSQL84_GTID_EXECUTED.replace(/\s+/g, '');

/** PROBE_SQL on this project's MariaDB 10.11 (recorded from scripts/source-pair.sh's a). */
const MARIADB_PROBE = [
  { Variable_name: 'gtid_binlog_pos', Value: '0-1-4' },
  { Variable_name: 'gtid_binlog_state', Value: '0-1-4' },
  { Variable_name: 'gtid_domain_id', Value: '0' },
  { Variable_name: 'read_only', Value: 'OFF' },
  { Variable_name: 'server_id', Value: '1' },
  { Variable_name: 'version', Value: '10.11.19-MariaDB-0+deb12u1-log' },
];

const MARIA_1 = { kind: 'mariadb', serverId: 1, domainId: 0 } as const;
const MARIA_2 = { kind: 'mariadb', serverId: 2, domainId: 0 } as const;
const MYSQL_A = { kind: 'mysql', serverId: 1, uuid: MYSQL84_UUID } as const;

describe('source hosts', () => {
  it('a URL with one host is returned unchanged', () => {
    expect(splitSourceHosts('mysql://u:p@db:3306/app?ssl=true')).toEqual([
      'mysql://u:p@db:3306/app?ssl=true',
    ]);
  });

  it('several hosts become one-host URLs with the same user, database and parameters, in order', () => {
    expect(splitSourceHosts('mysql://u:p%40ss@db1:3306,db2,[::1]:3307/app?ssl=true')).toEqual([
      'mysql://u:p%40ss@db1:3306/app?ssl=true',
      'mysql://u:p%40ss@db2/app?ssl=true',
      'mysql://u:p%40ss@[::1]:3307/app?ssl=true',
    ]);
    expect(splitSourceHosts('mariadb://db1:1,db2:2')).toEqual([
      'mariadb://db1:1',
      'mariadb://db2:2',
    ]);
  });

  it('an empty host or a port out of range is E_CONFIG_INVALID, without the password', () => {
    const empty = thrown(() => splitSourceHosts('mysql://u:secret@db1:3306,,db2/app'));
    expect(empty).toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: 'host 2 of the source URL ("") is not HOST or HOST:PORT',
    });
    const port = thrown(() => splitSourceHosts('mysql://u:secret@db1:3306,db2:70000/app'));
    expect(port.message).toBe('host 2 of the source URL ("db2:70000") is not HOST or HOST:PORT');
  });

  it('hostOf names host:port (3306 by default) and never the credentials', () => {
    expect(hostOf('mysql://u:secret@db1:3307/app')).toBe('db1:3307');
    expect(hostOf('mysql://u:secret@db1/app')).toBe('db1:3306');
  });
});

describe('server identity', () => {
  it('one statement both flavors answer, queued before the dump request', () => {
    expect(PROBE_SQL).toBe(
      "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'server_id', 'server_uuid', 'gtid_domain_id', 'read_only', 'gtid_mode', 'gtid_executed', 'gtid_binlog_state', 'gtid_binlog_pos')",
    );
  });

  it('MariaDB: server_id within its GTID domain, the binlog GTID state and head', () => {
    expect(parseProbe(MARIADB_PROBE)).toEqual({
      identity: MARIA_1,
      readOnly: false,
      gtidState: '0-1-4',
      gtidHead: '0-1-4',
    });
  });

  it('MySQL 8.4: server_uuid, gtid_executed without its line breaks; no GTIDs when gtid_mode is OFF', () => {
    const rows = MYSQL84_VARIABLES.map((r) =>
      r.Variable_name === 'gtid_executed' ? { ...r, Value: MYSQL84_GTID_EXECUTED } : r,
    );
    expect(parseProbe(rows)).toEqual({
      identity: MYSQL_A,
      readOnly: false,
      gtidState: EXECUTED,
      gtidHead: EXECUTED,
    });
    const off = rows.map((r) => (r.Variable_name === 'gtid_mode' ? { ...r, Value: 'OFF' } : r));
    expect(parseProbe(off).gtidState).toBeUndefined();
    const replica = rows.map((r) => (r.Variable_name === 'read_only' ? { ...r, Value: 'ON' } : r));
    expect(parseProbe(replica).readOnly).toBe(true);
  });

  it('same server: MySQL by uuid, MariaDB by server_id and domain; never across flavors', () => {
    expect(sameServer(MARIA_1, { ...MARIA_1 })).toBe(true);
    expect(sameServer(MARIA_1, MARIA_2)).toBe(false);
    expect(sameServer(MARIA_1, { ...MARIA_1, domainId: 1 })).toBe(false);
    expect(sameServer(MYSQL_A, { ...MYSQL_A, serverId: 9 })).toBe(true);
    expect(sameServer(MYSQL_A, { ...MYSQL_A, uuid: MYSQL84_UUID2 })).toBe(false);
    // A checkpoint edited by hand with the uuid in capitals names the same server.
    expect(sameServer(MYSQL_A, { ...MYSQL_A, uuid: MYSQL84_UUID.toUpperCase() })).toBe(true);
    expect(sameServer({ ...MYSQL_A, uuid: MYSQL84_UUID.toUpperCase() }, MYSQL_A)).toBe(true);
    expect(sameServer(MYSQL_A, { kind: 'mariadb', serverId: 1 })).toBe(false);
    expect(describeServer(MARIA_2)).toBe('mariadb server_id 2 (domain 0)');
    expect(describeServer(MYSQL_A)).toBe(`mysql ${MYSQL84_UUID} (server_id 1)`);
  });

  it('MySQL identities without a uuid (a record that lacks it) fall back to server_id, on either side', () => {
    const noUuid = { kind: 'mysql', serverId: 1 } as const;
    expect(sameServer(noUuid, MYSQL_A)).toBe(true);
    expect(sameServer(MYSQL_A, noUuid)).toBe(true);
    expect(sameServer(MYSQL_A, { ...noUuid, serverId: 2 })).toBe(false);
    expect(sameServer(noUuid, { ...noUuid })).toBe(true);
    expect(sameServer(noUuid, { ...noUuid, serverId: 2 })).toBe(false);
    expect(describeServer(noUuid)).toBe('mysql ? (server_id 1)');
  });

  it('MariaDB: the same non-zero domain is the same server; a missing domain is domain 0', () => {
    const domain1 = { kind: 'mariadb', serverId: 2, domainId: 1 } as const;
    expect(sameServer(domain1, { ...domain1 })).toBe(true);
    expect(sameServer({ kind: 'mariadb', serverId: 1 }, MARIA_1)).toBe(true);
    expect(describeServer({ kind: 'mariadb', serverId: 1 })).toBe('mariadb server_id 1 (domain 0)');
  });

  it('MariaDB: the stored GTID position must be what the binlog says at that offset, for the domains it names', () => {
    expect(gtidMatchesAt('0-1-42', '0-1-42')).toBe(true);
    expect(gtidMatchesAt('0-1-42', '0-1-42,1-2-7')).toBe(true); // an older one-GTID record
    expect(gtidMatchesAt('0-1-42', '0-1-41')).toBe(false);
    expect(gtidMatchesAt('0-1-42', '0-3-42')).toBe(false); // a rebuilt server's own history
    expect(gtidMatchesAt('0-1-42,1-2-7', '0-1-42')).toBe(false);
  });
});

describe('GTID coverage (the new server holds every transaction of the checkpoint)', () => {
  it('MariaDB: per domain, the same server id at a sequence number at least as high', () => {
    expect(gtidCovered('0-1-42', '0-1-42')).toBe(true);
    expect(gtidCovered('0-1-42', '0-1-50,0-2-7')).toBe(true); // replicated, then its own writes
    expect(gtidCovered('0-1-42', '0-1-41,0-2-7')).toBe(false); // lost in the failover
    expect(gtidCovered('0-1-42', '0-2-900')).toBe(false); // another history
    expect(gtidCovered('0-1-42,1-1-3', '0-1-42')).toBe(false); // a domain it lacks
    expect(gtidCovered('0-1-42,1-1-3', '1-1-3,0-1-43')).toBe(true);
    expect(gtidCovered('0-1-18446744073709551615', '0-1-18446744073709551615')).toBe(true);
  });

  it('MySQL: a subset of gtid_executed, by uuid and tag, over merged intervals', () => {
    expect(gtidCovered(`${MYSQL84_UUID}:1-5`, EXECUTED)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:1-5:11-18`, EXECUTED)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:1-6`, EXECUTED)).toBe(false); // 6 is in the gap
    expect(gtidCovered(`${MYSQL84_UUID}:1-5:batch_job:1-3`, EXECUTED)).toBe(true);
    expect(gtidCovered(`${MYSQL84_UUID}:batch_job:4`, EXECUTED)).toBe(false);
    expect(gtidCovered(`${MYSQL84_UUID2}:27,${MYSQL84_UUID.toUpperCase()}:12`, EXECUTED)).toBe(
      true,
    );
    expect(gtidCovered(`${MYSQL84_UUID}:1-3`, `${MYSQL84_UUID}:1-2:3`)).toBe(true); // adjacent
    expect(gtidCovered('2c256447-3f0d-431b-9a25-000000000000:1', EXECUTED)).toBe(false);
  });
});

describe('GtidTracker: the GTIDs of everything up to the last boundary', () => {
  it('MariaDB: last GTID per domain, seeded or learned from the next transaction', () => {
    const t = new GtidTracker();
    t.seed('mariadb', '0-1-41,1-1-3');
    t.add('0-1-42');
    expect(t.current).toBe('0-1-42,1-1-3');
    t.add('0-2-43'); // after a failover within the domain: the new server's GTIDs
    expect(t.current).toBe('0-2-43,1-1-3');
    t.add(undefined);
    expect(t.current).toBe('0-2-43,1-1-3');
    const unseeded = new GtidTracker();
    unseeded.seed('mariadb', undefined);
    expect(unseeded.current).toBeUndefined();
    unseeded.add('0-1-18446744073709551615');
    expect(unseeded.current).toBe('0-1-18446744073709551615');
  });

  it('MySQL: the executed set grows by each transaction; unknown stays unknown', () => {
    const t = new GtidTracker();
    t.seed('mysql', `${MYSQL84_UUID}:1-5`);
    t.add(`${MYSQL84_UUID}:6`);
    t.add(`${MYSQL84_UUID2}:1`);
    expect(t.current).toBe(`${MYSQL84_UUID2}:1,${MYSQL84_UUID}:1-6`);
    const unknown = new GtidTracker();
    unknown.seed('mysql', undefined);
    unknown.add(`${MYSQL84_UUID}:7`);
    expect(unknown.current).toBeUndefined();
  });
});

describe('the checkpoint record names its server', () => {
  it('round-trips the server field, in a fixed shape', () => {
    const json = encodeCheckpoint({
      position: position('binlog.000003', 1234),
      gtid: '0-1-42',
      server: MARIA_1,
      at: '2026-01-01T00:00:00.000Z',
    });
    expect(json).toBe(
      '{"file":"binlog.000003","pos":1234,"gtid":"0-1-42","server":{"kind":"mariadb","serverId":1,"domainId":0},"at":"2026-01-01T00:00:00.000Z"}',
    );
    expect(decodeCheckpoint(json, 'k')).toEqual({
      position: { file: 'binlog.000003', pos: 1234 },
      gtid: '0-1-42',
      server: MARIA_1,
      at: '2026-01-01T00:00:00.000Z',
    });
    const mysql = encodeCheckpoint({
      position: position('b.1', 4),
      gtid: undefined,
      server: MYSQL_A,
      at: 'x',
    });
    // No domainId key at all on a MySQL identity (not one set to undefined).
    expect(decodeCheckpoint(mysql, 'k').server).toStrictEqual(MYSQL_A);
  });

  it('a record without `at` decodes with an empty one', () => {
    expect(decodeCheckpoint('{"file":"binlog.000001","pos":4}', 'k')).toStrictEqual({
      position: { file: 'binlog.000001', pos: 4 },
      gtid: undefined,
      at: '',
    });
  });

  it('a record that is not JSON is E_POSITION_INVALID naming the key, with the parse error as cause', () => {
    const err = thrown(() => decodeCheckpoint('{"file":', 'sluice:checkpoint:main'));
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toBe('sluice:checkpoint:main: stored checkpoint is not JSON');
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('a record of another shape names the first wrong field, or `record` for the whole', () => {
    expect(thrown(() => decodeCheckpoint('{"file":"b.1"}', 'k')).message).toMatch(
      /^k: stored checkpoint has an unexpected shape \(pos: [^)]+\): \{"file":"b\.1"\}$/,
    );
    expect(thrown(() => decodeCheckpoint('42', 'k')).message).toMatch(
      /^k: stored checkpoint has an unexpected shape \(record: [^)]+\): 42$/,
    );
  });

  it('an older record without it decodes without it; unknown fields are ignored', () => {
    const cp = decodeCheckpoint('{"file":"binlog.000001","pos":4,"at":"x","next":{"a":1}}', 'k');
    expect(cp).toEqual({ position: { file: 'binlog.000001', pos: 4 }, gtid: undefined, at: 'x' });
    expect('server' in cp).toBe(false);
  });

  it('a malformed server field is E_POSITION_INVALID naming it', () => {
    const err = thrown(() =>
      decodeCheckpoint('{"file":"b.1","pos":4,"server":{"kind":"pg"}}', 'key'),
    );
    expect(err.code).toBe('E_POSITION_INVALID');
    expect(err.message).toContain('(server.kind:');
  });
});

describe('decideSourceChange: follow by GTID, else the policy', () => {
  function change(over: {
    gtid?: string;
    state?: string | undefined;
    now?: typeof MARIA_2 | typeof MYSQL_A;
    reason?: ServerChange['reason'];
  }): ServerChange {
    return {
      from: {
        kind: 'position',
        position: position('binlog.000001', 30596),
        ...(over.gtid === undefined ? {} : { gtid: over.gtid }),
        server: MARIA_1,
      },
      now: {
        identity: over.now ?? MARIA_2,
        readOnly: false,
        gtidState: 'state' in over ? over.state : '0-1-3000,0-2-5',
        gtidHead: '0-2-5',
      },
      host: 'db:3306',
      reason: over.reason ?? 'identity',
    };
  }

  it('the new server holds the checkpoint transactions: follow from the stored GTIDs', () => {
    expect(decideSourceChange(change({ gtid: '0-1-2771' }), 'fail')).toEqual({
      action: 'follow',
      gtid: '0-1-2771',
    });
    expect(decideSourceChange(change({ gtid: '0-1-2771', reason: 'binlog' }), 'flush')).toEqual({
      action: 'follow',
      gtid: '0-1-2771',
    });
  });

  it('no GTID stored: E_SOURCE_CHANGED, failing or flushing by the policy', () => {
    const fail = decideSourceChange(change({}), 'fail');
    expect(fail.action).toBe('fail');
    if (fail.action === 'follow') return;
    expect(fail.error.code).toBe('E_SOURCE_CHANGED');
    expect(fail.error.message).toBe(
      'binlog.000001:30596 belongs to mariadb server_id 1 (domain 0), and db:3306 (mariadb server_id 2 (domain 0)) answers instead; ' +
        'the checkpoint has no GTID to find its place there. Flush the mapped key spaces and move the checkpoint (`sluice position set`), ' +
        'or restart with source.onSourceChanged: flush',
    );
    // flush: the same reason, without the advice to flush and restart.
    const flush = decideSourceChange(change({}), 'flush');
    if (flush.action !== 'flush') throw new Error(`expected flush, got ${flush.action}`);
    expect(flush.error.code).toBe('E_SOURCE_CHANGED');
    expect(flush.error.message).toBe(
      'binlog.000001:30596 belongs to mariadb server_id 1 (domain 0), and db:3306 (mariadb server_id 2 (domain 0)) answers instead; ' +
        'the checkpoint has no GTID to find its place there',
    );
    expect(flush.error.details).toMatchObject({ policy: 'flush', reason: 'identity' });
  });

  it('a server without GTIDs, GTIDs of the other flavor, or transactions it lacks: never followed', () => {
    const reasons = [
      change({ gtid: `${MYSQL84_UUID}:1-5`, now: MYSQL_A, state: undefined }),
      change({ gtid: `${MYSQL84_UUID}:1-5` }),
      change({ gtid: '0-1-3001' }),
    ].map((c) => {
      const d = decideSourceChange(c, 'fail');
      return d.action === 'follow' ? 'follow' : d.error.message.split('; ')[1]?.split(' (')[0];
    });
    expect(reasons).toEqual([
      'that server has no GTIDs',
      "the checkpoint's GTIDs",
      'it lacks transactions the checkpoint covers',
    ]);
  });

  it('an older checkpoint (no server recorded) whose GTID disagrees with the binlog there says so', () => {
    const c = change({ gtid: '0-1-2771', state: '0-2-9', reason: 'binlog' });
    const d = decideSourceChange({ ...c, from: { ...c.from, server: undefined } }, 'fail');
    expect(d.action === 'fail' && d.error.message).toContain(
      "db:3306 (mariadb server_id 2 (domain 0)) has other transactions at binlog.000001:30596 than the checkpoint's GTIDs (another server behind the address?)",
    );
    expect(d.action === 'fail' && d.error.details).toMatchObject({
      previous: 'a server it does not record',
    });
  });

  it('MySQL: a new primary whose gtid_executed holds the checkpoint set is followed', () => {
    const gtid = `${MYSQL84_UUID}:1-5:11-18`;
    const c = change({ gtid, now: MYSQL_A, state: EXECUTED });
    expect(decideSourceChange(c, 'fail')).toEqual({ action: 'follow', gtid });
  });

  it('MariaDB GTIDs on a MySQL server: another flavor, never compared', () => {
    const d = decideSourceChange(
      change({ gtid: '0-1-2771', now: MYSQL_A, state: EXECUTED }),
      'fail',
    );
    expect(d.action === 'fail' && d.error.message).toContain(
      "; the checkpoint's GTIDs (0-1-2771) are of another flavor. Flush",
    );
  });

  it('transactions the server lacks: the message names the checkpoint and the server state, or "empty"', () => {
    const lacking = decideSourceChange(change({ gtid: '0-1-3001' }), 'fail');
    expect(lacking.action === 'fail' && lacking.error.message).toContain(
      '; it lacks transactions the checkpoint covers (checkpoint 0-1-3001, server 0-1-3000,0-2-5): ' +
        'they were lost in the failover, and values cached from them may be stale. Flush',
    );
    const fresh = decideSourceChange(change({ gtid: '0-1-42', state: '' }), 'fail');
    expect(fresh.action === 'fail' && fresh.error.message).toContain(
      '; it lacks transactions the checkpoint covers (checkpoint 0-1-42, server empty): ',
    );
  });

  it('the same server id with another binlog says so', () => {
    const d = decideSourceChange(change({ reason: 'binlog' }), 'fail');
    expect(d.action === 'fail' && d.error.message).toContain(
      'db:3306 (mariadb server_id 2 (domain 0)) has the server id of binlog.000001:30596 but other transactions there (a rebuilt server?)',
    );
  });
});
