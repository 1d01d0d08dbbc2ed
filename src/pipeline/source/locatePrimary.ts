import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { SluiceError } from '../../errors/index.js';
import { mysqlConnectionOptions } from '../../infra/mysqlConnectionOptions.js';
import { hostOf } from '../../infra/sourceHosts.js';
import { TIMED_OUT, withTimeout } from '../../infra/timeout.js';

/** How long one host may take to answer before the next is asked. */
export const HOST_PROBE_TIMEOUT_MS = 5000;

/**
 * The first of `urls` (one-host URLs, in the configured order) that answers
 * and is a primary (`@@read_only` off): where the binlog is read from when
 * `source.url` names several hosts. A replica's binlog would do as well
 * while it replicates, but it stops moving the moment the primary fails,
 * and the primary is the server the application writes to. Throws
 * E_SOURCE_CONNECT, naming what each host answered, when none qualifies
 * (the caller retries with backoff: mid-failover, nobody is primary yet).
 */
export async function locatePrimary(
  urls: readonly string[],
  timeoutMs = HOST_PROBE_TIMEOUT_MS,
): Promise<string> {
  const answers: string[] = [];
  for (const url of urls) {
    const answer = await withTimeout(readOnlyOf(url, timeoutMs), timeoutMs);
    if (answer === false) return url;
    answers.push(
      `${hostOf(url)} ${answer === true ? 'is read-only' : answer === TIMED_OUT ? `did not answer within ${timeoutMs} ms` : answer}`,
    );
  }
  throw new SluiceError(
    'E_SOURCE_CONNECT',
    `no primary among the source hosts: ${answers.join('; ')}`,
    {
      details: { hosts: urls.map(hostOf) },
    },
  );
}

/** true/false: `@@read_only`; a string: why the host could not be asked. */
async function readOnlyOf(url: string, timeoutMs: number): Promise<boolean | string> {
  let conn;
  try {
    conn = await createConnection(mysqlConnectionOptions(url, { connectTimeout: timeoutMs }));
  } catch (err) {
    return `cannot connect (${(err as Error).message})`;
  }
  conn.on('error', () => undefined);
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT @@GLOBAL.read_only AS ro');
    return Number(rows[0]?.ro ?? 1) !== 0;
  } catch (err) {
    return `failed (${(err as Error).message})`;
  } finally {
    conn.destroy();
  }
}
