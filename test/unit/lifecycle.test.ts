import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/infra/lifecycle.js';

describe('Lifecycle', () => {
  it('stops in reverse start order, isolates failures, and is idempotent', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino(
      { level: 'warn' },
      { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    const order: string[] = [];
    const l = new Lifecycle(log);
    l.add('redis', () => void order.push('redis'));
    l.add('pool', () => Promise.reject(new Error('pool gone')));
    l.add('http', async () => {
      await Promise.resolve();
      order.push('http');
    });
    await l.stopAll();
    await l.stopAll();
    expect(order).toEqual(['http', 'redis']);
    expect(lines).toEqual([
      expect.objectContaining({ step: 'pool', err: 'pool gone', msg: 'stop step failed' }),
    ]);
  });
});
