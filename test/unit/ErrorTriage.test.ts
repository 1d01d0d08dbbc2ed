import { describe, expect, it } from 'vitest';
import { position } from '../../src/pipeline/position.js';
import { ErrorTriage, type StreamError } from '../../src/pipeline/source/ErrorTriage.js';
import type { StartPoint } from '../../src/pipeline/source/StartPoint.js';

const FROM: StartPoint = { kind: 'position', position: position('binlog.000003', 1234) };
const OTHER: StartPoint = { kind: 'position', position: position('binlog.000003', 5678) };

function serverError(message: string, errno: number, code: string): StreamError {
  return Object.assign(new Error(message), { errno, code });
}

describe('ErrorTriage', () => {
  it('takes a purged position (1236) as fatal E_POSITION_LOST naming the start point', () => {
    const err = serverError('Could not find first log file name', 1236, 'ER_MASTER_FATAL_ERROR');
    const { fatal, error } = new ErrorTriage().judge(err, FROM);
    expect(fatal).toBe(true);
    expect(error.code).toBe('E_POSITION_LOST');
    expect(error.message).toBe(
      'the server cannot stream from binlog.000003:1234 (Could not find first log file name). ' +
        'The binlog holding the checkpoint was probably purged: invalidations in between are lost. ' +
        'Either restart with source.onPositionLost: flush (removes every mapped key space and continues ' +
        'from the current end), or flush the caches yourself and move the checkpoint with ' +
        '`sluice position set FILE:POS`.',
    );
    expect(error.details).toEqual({ from: 'binlog.000003:1234', errno: 1236 });
    expect(error.cause).toBe(err);
  });

  it.each([1044, 1045, 1142, 1227, 1698])('takes a missing privilege (%i) as fatal', (errno) => {
    const err = serverError('Access denied', errno, 'ER_X');
    const { fatal, error } = new ErrorTriage().judge(err, { kind: 'end' });
    expect(fatal).toBe(true);
    expect(error.code).toBe('E_SOURCE_CONNECT');
    expect(error.message).toBe(
      'the binlog user lacks a privilege (Access denied); it needs REPLICATION SLAVE, ' +
        'BINLOG MONITOR (REPLICATION CLIENT on MySQL) and SELECT',
    );
    expect(error.details).toEqual({ errno });
  });

  it('retries a network or server error as E_SOURCE_CONNECT, however often', () => {
    const triage = new ErrorTriage();
    const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    for (let i = 0; i < 5; i++) {
      const { fatal, error } = triage.judge(err, FROM);
      expect(fatal).toBe(false);
      expect(error.code).toBe('E_SOURCE_CONNECT');
      expect(error.message).toBe('binlog connection failed: read ECONNRESET');
      expect(error.details).toEqual({ errno: undefined, code: 'ECONNRESET' });
      expect(error.cause).toBe(err);
    }
  });

  it('retries a server error that carries only its errno (no code), however often', () => {
    const triage = new ErrorTriage();
    const lost = Object.assign(new Error('Lost connection to server during query'), {
      errno: 2013,
    });
    for (let i = 0; i < 5; i++) expect(triage.judge(lost, FROM).fatal).toBe(false);
    expect(triage.judge(lost, FROM).error.code).toBe('E_SOURCE_CONNECT');
  });

  it('takes the third decode failure in a row at the same start point as fatal E_SOURCE_DECODE', () => {
    const triage = new ErrorTriage();
    const plain = new Error('bad row image');
    const range = Object.assign(new RangeError('out of range'), { code: 'ERR_OUT_OF_RANGE' });
    expect(triage.judge(plain, FROM)).toMatchObject({
      fatal: false,
      error: { code: 'E_SOURCE_CONNECT', message: 'binlog connection failed: bad row image' },
    });
    expect(triage.judge(range, FROM).fatal).toBe(false);
    const third = triage.judge(new TypeError('x is undefined'), FROM);
    expect(third.fatal).toBe(true);
    expect(third.error.code).toBe('E_SOURCE_DECODE');
    expect(third.error.message).toBe(
      'cannot decode the binlog after binlog.000003:1234 (x is undefined); 3 attempts failed the same way',
    );
    expect(third.error.details).toEqual({ at: 'binlog.000003:1234' });
  });

  it('counts decode failures again from one at another start point; server errors do not reset the count', () => {
    const triage = new ErrorTriage();
    const decode = new Error('bad row image');
    triage.judge(decode, FROM);
    triage.judge(decode, FROM);
    expect(triage.judge(decode, OTHER).fatal).toBe(false); // 1 at OTHER
    triage.judge(serverError('gone', 2013, 'PROTOCOL_CONNECTION_LOST'), OTHER);
    expect(triage.judge(decode, OTHER).fatal).toBe(false); // 2
    expect(triage.judge(decode, OTHER).error.code).toBe('E_SOURCE_DECODE'); // 3
  });
});
