import { SluiceError } from '../../errors/index.js';
import { describeStart, type StartPoint } from './StartPoint.js';

/** Server errors that no retry can fix: they are fatal. */
const ER_MASTER_FATAL_READING_BINLOG = 1236;
const ACCESS_DENIED = new Set([1044, 1045, 1142, 1227, 1698]);

/** What the binlog connection (zongji, mysql2) reports. */
export type StreamError = Error & { errno?: number; code?: string };

/** The error to report, and whether it ends the source (`onFatal`) or a reconnect follows. */
export interface Triage {
  readonly fatal: boolean;
  readonly error: SluiceError;
}

/**
 * Decides what a failed binlog connection means: a purged position
 * (E_POSITION_LOST) and a missing privilege are fatal, a network or
 * server error is retried (E_SOURCE_CONNECT), and an event zongji cannot
 * decode is retried until it failed three times in a row at the same
 * start point (E_SOURCE_DECODE): retrying from there fails the same way.
 */
export class ErrorTriage {
  private decodeFailures = 0;
  private decodeFailuresAt = '';

  /** `err` broke the stream that resumes from `from`. */
  judge(err: StreamError, from: StartPoint): Triage {
    const errno = err.errno;
    if (errno === ER_MASTER_FATAL_READING_BINLOG) {
      return {
        fatal: true,
        error: new SluiceError(
          'E_POSITION_LOST',
          `the server cannot stream from ${describeStart(from)} (${err.message}). ` +
            'The binlog holding the checkpoint was probably purged: invalidations in between are lost. ' +
            'Either restart with source.onPositionLost: flush (removes every mapped key space and continues ' +
            'from the current end), or flush the caches yourself and move the checkpoint with ' +
            '`sluice position set FILE:POS`.',
          { cause: err, details: { from: describeStart(from), errno } },
        ),
      };
    }
    if (errno !== undefined && ACCESS_DENIED.has(errno)) {
      return {
        fatal: true,
        error: new SluiceError(
          'E_SOURCE_CONNECT',
          `the binlog user lacks a privilege (${err.message}); it needs REPLICATION SLAVE, ` +
            'BINLOG MONITOR (REPLICATION CLIENT on MySQL) and SELECT',
          { cause: err, details: { errno } },
        ),
      };
    }
    if (
      (errno === undefined && err.code === undefined) ||
      err instanceof RangeError ||
      err instanceof TypeError
    ) {
      // Not a network or server error: zongji could not decode an event
      // (e.g. a row image that no longer matches the live schema; reading
      // past the end of a packet is a RangeError with code ERR_OUT_OF_RANGE,
      // not a network error). Retrying
      // from the same position fails the same way: after a few attempts it
      // is fatal, with the position, rather than a silent endless loop.
      const at = describeStart(from);
      this.decodeFailures = this.decodeFailuresAt === at ? this.decodeFailures + 1 : 1;
      this.decodeFailuresAt = at;
      if (this.decodeFailures >= 3) {
        return {
          fatal: true,
          error: new SluiceError(
            'E_SOURCE_DECODE',
            `cannot decode the binlog after ${at} (${err.message}); 3 attempts failed the same way`,
            { cause: err, details: { at } },
          ),
        };
      }
    }
    return {
      fatal: false,
      error: new SluiceError('E_SOURCE_CONNECT', `binlog connection failed: ${err.message}`, {
        cause: err,
        details: { errno, code: err.code },
      }),
    };
  }
}
