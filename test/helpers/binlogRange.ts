import { pino } from 'pino';
import type { RowChange } from '../../src/pipeline/change/RowChange.js';
import { comparePositions, type BinlogPosition } from '../../src/pipeline/position.js';
import { BinlogSource } from '../../src/pipeline/source/BinlogSource.js';
import { randomServerId, testEnv } from './env.js';

/**
 * Every row change of `table` from `from` to the first commit at or past
 * `to`, in binlog order, as a BinlogSource reading the test server delivers
 * them; with `columns`, only those columns decoded. A misaligned row image
 * decodes garbage or throws (and the source retries): the read fails after
 * 15 s instead of waiting for the test's timeout.
 */
export async function readRange(
  table: string,
  from: BinlogPosition,
  to: BinlogPosition,
  columns?: ReadonlySet<string>,
): Promise<RowChange[]> {
  const changes: RowChange[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void source.stop();
      reject(new Error(`read timed out after ${changes.length} row changes`));
    }, 15_000);
    const source = new BinlogSource(
      {
        url: testEnv.sourceUrl,
        serverId: randomServerId(),
        heartbeatMs: 1000,
        reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
        tables: [table],
        ...(columns === undefined ? {} : { columns: new Map([[table, columns]]) }),
        logger: pino({ level: 'silent' }),
      },
      {
        onEvent: (ev) => {
          if (ev.type === 'rows') changes.push(...ev.changes);
          else if (ev.type === 'commit' && comparePositions(ev.position, to) >= 0) {
            clearTimeout(timer);
            void source.stop().then(resolve, reject);
          }
        },
        onFatal: (err) => {
          clearTimeout(timer);
          void source.stop();
          reject(err);
        },
      },
    );
    source.start({ kind: 'position', position: from });
  });
  return changes;
}
