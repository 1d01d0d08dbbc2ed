import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { onShutdownSignal } from '../../src/infra/signals.js';

describe('onShutdownSignal', () => {
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  let exit: ReturnType<typeof stubExit>;
  const stubExit = () => vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
  let remove: (() => void) | undefined;

  beforeEach(() => {
    vi.useFakeTimers();
    logs.length = 0;
    exit = stubExit();
  });
  afterEach(() => {
    remove?.();
    exit.mockRestore();
    vi.useRealTimers();
  });

  it('a stop that does not finish in time: E_SHUTDOWN_TIMEOUT logged, exit 1', async () => {
    remove = onShutdownSignal(logger, () => new Promise<void>(() => undefined), 4000);
    process.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(3999);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, code: 'E_SHUTDOWN_TIMEOUT', timeoutMs: 4000 }),
    );
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('a stop that finishes in time: no timeout, no exit from here', async () => {
    remove = onShutdownSignal(logger, () => Promise.resolve(), 4000);
    process.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(exit).not.toHaveBeenCalled();
    expect(logs.map((l) => l.code)).not.toContain('E_SHUTDOWN_TIMEOUT');
  });

  it('a second signal exits at once with 130', async () => {
    remove = onShutdownSignal(logger, () => new Promise<void>(() => undefined), 4000);
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(130);
    await vi.advanceTimersByTimeAsync(0);
  });
});
