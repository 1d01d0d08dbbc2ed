import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors/index.js';
import { ReconnectBackoff } from '../../src/pipeline/source/ReconnectBackoff.js';
import { ManualClock } from '../helpers/manualClock.js';

function setup(random = () => 1) {
  const clock = new ManualClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const backoff = new ReconnectBackoff(
    { initialDelayMs: 100, maxDelayMs: 1000 },
    clock,
    logger,
    random,
  );
  let retries = 0;
  const retry = () => void retries++;
  return { clock, lines, backoff, retry, retries: () => retries };
}

const LOST = new SluiceError('E_SOURCE_CONNECT', 'binlog connection failed: read ECONNRESET');

describe('ReconnectBackoff', () => {
  it('retries after a doubling delay capped at the maximum, logging each attempt', () => {
    const { clock, lines, backoff, retry, retries } = setup();
    expect(backoff.attempt).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      backoff.schedule(LOST, 'binlog.000003:1234', retry);
      expect(backoff.pending).toBe(true);
      delays.push(lines.at(-1)?.['retryInMs'] as number);
      clock.advance(delays[i]! - 1);
      expect(retries()).toBe(i);
      clock.advance(1);
      expect(retries()).toBe(i + 1);
      expect(backoff.pending).toBe(false);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.attempt).toBe(6);
    expect(lines[0]).toMatchObject({
      level: 40,
      code: 'E_SOURCE_CONNECT',
      err: 'binlog connection failed: read ECONNRESET',
      retryInMs: 100,
      attempt: 1,
      from: 'binlog.000003:1234',
      msg: 'binlog connection lost; reconnecting',
    });
  });

  it('jitters each delay into its upper half', () => {
    const { lines, backoff, retry } = setup(() => 0);
    backoff.schedule(LOST, 'end', retry);
    backoff.cancel();
    backoff.schedule(LOST, 'end', retry);
    expect(lines.map((l) => l['retryInMs'])).toEqual([50, 100]);
  });

  it('starts over at attempt 1 once a connection streams', () => {
    const { clock, lines, backoff, retry } = setup();
    backoff.schedule(LOST, 'end', retry);
    clock.advance(100);
    backoff.schedule(LOST, 'end', retry);
    clock.advance(200);
    backoff.streaming();
    expect(backoff.attempt).toBe(0);
    backoff.schedule(LOST, 'end', retry);
    expect(lines.map((l) => [l['attempt'], l['retryInMs']])).toEqual([
      [1, 100],
      [2, 200],
      [1, 100],
    ]);
  });

  it('cancel drops the pending retry', () => {
    const { clock, backoff, retry, retries } = setup();
    backoff.schedule(LOST, 'end', retry);
    backoff.cancel();
    expect(backoff.pending).toBe(false);
    clock.advance(10_000);
    expect(retries()).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
