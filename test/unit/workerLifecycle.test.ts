import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Worker } from 'bullmq';
import { closeWorker, logErrors } from '../../src/jobs/workerLifecycle.js';
import { capturedLogger } from '../helpers/logs.js';

describe('logErrors', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  function setup() {
    vi.useFakeTimers();
    const { logger, lines } = capturedLogger('warn');
    const emitter = new EventEmitter();
    logErrors(emitter, logger, 'second-delete worker');
    const warned = () =>
      lines.map((l) => ({ err: l['err'], suppressed: l['suppressed'], code: l['code'] }));
    return { emitter, warned, lines };
  }

  it('logs the first error, then at most one every 5 s with the count it held back', () => {
    const { emitter, warned, lines } = setup();
    emitter.emit('error', new Error('ECONNREFUSED a'));
    emitter.emit('error', new Error('ECONNREFUSED b'));
    vi.advanceTimersByTime(4999);
    emitter.emit('error', new Error('ECONNREFUSED c'));
    expect(warned()).toEqual([{ err: 'ECONNREFUSED a', suppressed: 0, code: 'E_REDIS' }]);
    expect(lines[0]?.['msg']).toBe('second-delete worker: redis error');
    vi.advanceTimersByTime(1);
    emitter.emit('error', new Error('ECONNREFUSED d'));
    expect(warned()).toEqual([
      { err: 'ECONNREFUSED a', suppressed: 0, code: 'E_REDIS' },
      { err: 'ECONNREFUSED d', suppressed: 2, code: 'E_REDIS' },
    ]);
  });

  it('a wall clock stepped back an hour does not silence the errors for an hour', () => {
    const { emitter, warned } = setup();
    emitter.emit('error', new Error('first'));
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() - 3_600_000);
    vi.advanceTimersByTime(5000);
    emitter.emit('error', new Error('five seconds later'));
    expect(warned().map((w) => w.err)).toEqual(['first', 'five seconds later']);
  });
});

describe('closeWorker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const worker = (close: () => Promise<void>) => ({ close }) as unknown as Worker;

  it('true once the worker has closed, even when its close failed', async () => {
    await expect(
      closeWorker(
        worker(() => Promise.resolve()),
        1000,
      ),
    ).resolves.toBe(true);
    await expect(
      closeWorker(
        worker(() => Promise.reject(new Error('gone'))),
        1000,
      ),
    ).resolves.toBe(true);
  });

  it('false when it has not closed within timeoutMs, and not before', async () => {
    vi.useFakeTimers();
    let settled: boolean | undefined;
    void closeWorker(
      worker(() => new Promise<void>(() => undefined)),
      1000,
    ).then((closed) => {
      settled = closed;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(false);
  });
});
