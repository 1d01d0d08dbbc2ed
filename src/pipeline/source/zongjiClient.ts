import ZongJi, { type ZongJiOptions } from '@vlasky/zongji';
import { mysqlConnectionOptions } from '../../infra/mysqlConnectionOptions.js';
import type { TableName } from '../change/RowChange.js';
import { decodeOnly, installed as selectiveDecoding } from './selectiveRows.js';
import type { StartPoint } from './StartPoint.js';
import { installed as tableMapReuse, reuseTableMaps } from './tableMapReuse.js';

/**
 * How a BinlogSource makes, starts and stops a ZongJi (one per
 * connection): the only module that creates one.
 */

/** A ZongJi for `url` with Sluice's patches (table map reuse, selective decoding of `columns`) turned on, not started. */
export function createZongji(
  url: string,
  columns: ReadonlyMap<TableName, ReadonlySet<string>> | undefined,
): ZongJi {
  const zongji = new ZongJi(
    mysqlConnectionOptions(url, {
      // DATETIME/TIMESTAMP decode as UTC; BIGINT beyond 2^53 as exact strings.
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: false,
    }),
  );
  if (tableMapReuse) reuseTableMaps(zongji);
  if (columns !== undefined && selectiveDecoding) decodeOnly(zongji, columns);
  return zongji;
}

/** zongji's `includeSchema` for `db.table` names: the tables of each schema. */
export function includeSchemaOf(tables: readonly TableName[]): Record<string, string[]> {
  const filter: Record<string, string[]> = {};
  for (const t of tables) {
    const dot = t.indexOf('.');
    (filter[t.slice(0, dot)] ??= []).push(t.slice(dot + 1));
  }
  return filter;
}

/** `zongji.start()`'s options: the events Sluice reads, of `includeSchema`'s tables, from `from`. */
export function startOptions(
  serverId: number,
  includeSchema: Record<string, string[]>,
  from: StartPoint,
): ZongJiOptions {
  const options: ZongJiOptions = {
    serverId,
    includeSchema,
    includeEvents: [
      'rotate',
      'tablemap',
      'writerows',
      'updaterows',
      'deleterows',
      'xid',
      'query',
      'heartbeat',
    ],
  };
  if (from.kind === 'position') {
    options.filename = from.position.file;
    options.position = from.position.pos;
  } else if (from.kind === 'gtid') {
    options.gtidSet = from.gtid;
  } else {
    options.startAtEnd = true;
  }
  return options;
}

/**
 * Stops `zongji` without its binlog and error listeners (errors of the
 * teardown are swallowed): settles once it stopped, at the latest after 2 s.
 */
export function stopZongji(zongji: ZongJi): Promise<void> {
  zongji.removeAllListeners('binlog');
  zongji.removeAllListeners('error');
  zongji.on('error', () => {}); // teardown noise
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    zongji.once('stopped', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      zongji.stop();
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
