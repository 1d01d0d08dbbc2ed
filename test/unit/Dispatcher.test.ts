import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BusPublisher } from '../../src/bus/BusPublisher.js';
import type { SluiceError } from '../../src/errors/index.js';
import { Batcher, type BarrierOutcome } from '../../src/pipeline/batch/Batcher.js';
import { RateLimiter } from '../../src/pipeline/batch/RateLimiter.js';
import type { Checkpoint } from '../../src/pipeline/checkpoint/Checkpoint.js';
import { CheckpointTracker } from '../../src/pipeline/checkpoint/CheckpointTracker.js';
import { CheckpointWriter } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { Dispatcher } from '../../src/pipeline/Dispatcher.js';
import { position } from '../../src/pipeline/position.js';
import { Transport, type Round, type RoundAck } from '../../src/pipeline/transport/Transport.js';
import { ManualClock } from '../helpers/manualClock.js';

const cp = (pos: number): Checkpoint => ({
  position: position('binlog.000001', pos),
  gtid: undefined,
});
const silent = pino({ level: 'silent' });

/** Records what it is asked to send; can hold a round, fail attempts, or fence. */
class FakeTransport extends Transport {
  readonly sent: string[] = [];
  failNext = 0;
  fenced = false;
  /** Checkpoint writes find another Redis primary than they were built for. */
  otherPrimary = false;
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.gate = null;
    this.open?.();
  }

  protected async attempt(round: Round): Promise<RoundAck> {
    const parts: string[] = [];
    if (round.checkpoint !== null) parts.push(`cp@${round.checkpoint.checkpoint.position.pos}`);
    for (const b of round.batches) {
      const m = JSON.parse(b.message) as { seq: number; pos?: string };
      parts.push(`${b.keys.join('+')}#${m.seq}${m.pos === undefined ? '' : `@${m.pos}`}`);
    }
    if (this.failNext > 0) {
      this.failNext--;
      this.sent.push(`fail ${parts.join(' ')}`);
      throw new Error('redis down');
    }
    this.sent.push(`send ${parts.join(' ')}`);
    if (this.gate !== null) await this.gate;
    if (round.checkpoint === null) return { checkpoint: 'none' };
    if (this.otherPrimary) return { checkpoint: 'other-primary' };
    return { checkpoint: this.fenced ? 'fenced' : 'written' };
  }

  protected attemptFlush(patterns: readonly string[], message: string): Promise<number> {
    const m = JSON.parse(message) as { seq: number; flush?: boolean };
    this.sent.push(`flush ${patterns.join('+')}#${m.seq}${m.flush === true ? ' all' : ''}`);
    return Promise.resolve(patterns.length * 10);
  }
}

function setup(
  opts: {
    rate?: number;
    onAcked?: (keys: readonly string[]) => void;
    onFenced?: () => Promise<boolean>;
    onPrimaryChanged?: () => void;
  } = {},
) {
  const clock = new ManualClock();
  const transport = new FakeTransport({ channel: 'ch', clock, logger: silent });
  const halted: SluiceError[] = [];
  let dispatcher: Dispatcher | null = null;
  const kick = (): void => dispatcher?.kick();
  const batcher = new Batcher({
    batchMaxKeys: 100,
    batchMaxDelayMs: 5,
    maxInFlightKeys: 1000,
    roundMaxKeys: 10_000,
    oneItemPerRound: false,
    clock,
    onReady: kick,
    onBackpressure: () => undefined,
  });
  const writer = new CheckpointWriter({ key: 'cp', clock, onDue: kick });
  const publisher = new BusPublisher({
    redis: {} as Redis,
    channel: 'ch',
    src: 'main',
    heartbeatMs: 0,
    clock,
    logger: silent,
  });
  dispatcher = new Dispatcher({
    batcher,
    transport,
    tracker: new CheckpointTracker(),
    writer,
    publisher,
    logger: silent,
    onHalt: (err) => halted.push(err),
    ...(opts.rate === undefined ? {} : { rateLimiter: new RateLimiter(opts.rate, clock) }),
    ...(opts.onAcked === undefined ? {} : { onAcked: opts.onAcked }),
    ...(opts.onFenced === undefined ? {} : { onFenced: opts.onFenced }),
    ...(opts.onPrimaryChanged === undefined ? {} : { onPrimaryChanged: opts.onPrimaryChanged }),
  });
  const txn = (keys: string[], pos: number): void => {
    batcher.add(keys);
    batcher.commit(cp(pos));
  };
  return { clock, transport, halted, batcher, writer, publisher, dispatcher, txn };
}

/** Lets the dispatcher's promise chains run to their next wait (a macrotask drains every microtask). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Dispatcher: checkpoint after ack (rule 1)', () => {
  it('a round never carries the checkpoint of its own batches: it rides the next round, or goes alone once drained', async () => {
    const { transport, txn, dispatcher, writer } = setup();
    transport.hold();
    txn(['a'], 100);
    await settle();
    txn(['b'], 200); // arrives while round 1 is in flight
    txn(['c'], 300);
    expect(transport.sent).toEqual(['send a#1@binlog.000001:100']);
    expect(writer.stored).toBe(null);
    transport.release();
    await dispatcher.drain();
    expect(transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100 b+c#2@binlog.000001:300',
      'send cp@300',
    ]);
    expect(writer.stored).toEqual(cp(300));
    expect(dispatcher.stats).toMatchObject({ batches: 2, keys: 3, checkpoints: 2, publishes: 2 });
  });

  it('while Redis fails nothing after the failed round is sent and the checkpoint stays put', async () => {
    const { transport, txn, dispatcher, writer, clock } = setup();
    txn(['a'], 100);
    await dispatcher.drain();
    expect(writer.stored).toEqual(cp(100));
    transport.failNext = 3;
    txn(['b'], 200);
    await settle();
    txn(['c'], 300);
    await settle();
    expect(transport.sent.slice(2)).toEqual(['fail b#2@binlog.000001:200']);
    clock.advance(100); // backoff 100, 200, 400 ms
    await settle();
    clock.advance(200);
    await settle();
    expect(transport.sent.slice(2)).toEqual([
      'fail b#2@binlog.000001:200',
      'fail b#2@binlog.000001:200',
      'fail b#2@binlog.000001:200',
    ]);
    expect(writer.stored).toEqual(cp(100));
    clock.advance(400);
    await dispatcher.drain();
    expect(transport.sent.slice(5)).toEqual([
      'send b#2@binlog.000001:200', // the same seq again
      'send cp@200 c#3@binlog.000001:300',
      'send cp@300',
    ]);
    expect(dispatcher.stats.retries).toBe(3);
    expect(writer.stored).toEqual(cp(300));
  });

  it('a stale fencing token halts with E_FENCED: nothing more is sent, a drain returns', async () => {
    const { transport, txn, dispatcher, writer, halted } = setup();
    transport.fenced = true;
    txn(['a'], 100);
    await dispatcher.drain();
    expect(halted.map((e) => e.code)).toEqual(['E_FENCED']);
    expect(writer.stored).toBe(null);
    txn(['b'], 200);
    await settle();
    expect(transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100']);
    await dispatcher.drain(); // halted: returns at once
  });

  it('a fenced write that the leadership check confirms is retried: batches acked, nothing halts', async () => {
    let checks = 0;
    const s = setup({
      onFenced: () => {
        checks++;
        s.transport.fenced = false; // the lease re-taken: the next write carries the new token
        return Promise.resolve(true);
      },
    });
    s.transport.fenced = true;
    s.txn(['a'], 100);
    await settle();
    s.txn(['b'], 200);
    await s.dispatcher.drain();
    expect(checks).toBe(1);
    expect(s.halted).toEqual([]);
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100 b#2@binlog.000001:200', // refused, b still deleted and announced
      'send cp@200',
    ]);
    expect(s.writer.stored).toEqual(cp(200));
    expect(s.dispatcher.stats).toMatchObject({ batches: 2, publishes: 2 });
  });

  it('a fenced write that the leadership check denies halts with E_FENCED', async () => {
    const s = setup({ onFenced: () => Promise.resolve(false) });
    s.transport.fenced = true;
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(s.halted.map((e) => e.code)).toEqual(['E_FENCED']);
    expect(s.writer.stored).toBe(null);
  });
});

describe('Dispatcher: a Redis primary change', () => {
  it('a checkpoint refused by another primary halts and reports it: nothing more is sent, the checkpoint stays', async () => {
    let reported = 0;
    const s = setup({ onPrimaryChanged: () => reported++ });
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(s.writer.stored).toEqual(cp(100));
    s.transport.otherPrimary = true;
    s.transport.hold();
    s.txn(['b'], 200);
    await settle();
    s.txn(['c'], 300); // waits behind b's round
    s.clock.advance(10); // the last write is old enough: b's checkpoint rides c's round
    s.transport.release();
    await settle();
    expect(reported).toBe(1);
    expect(s.halted).toEqual([]);
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'send b#2@binlog.000001:200',
      'send cp@200 c#3@binlog.000001:300', // refused: what the old primary acknowledged may be lost
    ]);
    expect(s.writer.stored).toEqual(cp(100));
    s.txn(['d'], 400);
    await settle();
    expect(s.transport.sent).toHaveLength(4);
    await s.dispatcher.drain(); // halted: returns at once
  });

  it('without a handler the refusal halts with E_REDIS_PRIMARY_CHANGED', async () => {
    const s = setup();
    s.transport.otherPrimary = true;
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(s.halted.map((e) => e.code)).toEqual(['E_REDIS_PRIMARY_CHANGED']);
    expect(s.writer.stored).toBe(null);
  });

  it('a round acknowledged after a halt (a re-stream retired the dispatcher) moves nothing', async () => {
    const acked: string[] = [];
    const s = setup({ onAcked: (keys) => acked.push(...keys) });
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    s.transport.hold();
    s.txn(['b'], 200);
    await settle();
    s.dispatcher.halt();
    s.transport.release();
    await settle();
    expect(s.writer.stored).toEqual(cp(100));
    expect(s.publisher.seq).toBe(1);
    expect(acked).toEqual(['a']);
    expect(s.halted).toEqual([]);
  });
});

describe('Dispatcher: flushes and barriers in binlog order', () => {
  it('a flush removes its key space after the batches before it and before those after it', async () => {
    const { transport, txn, dispatcher, batcher, writer } = setup();
    txn(['a'], 100);
    batcher.flush(['t:*'], false, cp(150));
    txn(['b'], 200);
    await dispatcher.drain();
    expect(transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'flush t:*#2',
      'send cp@150 b#3@binlog.000001:200', // a drain is waiting: every round carries the checkpoint
      'send cp@200',
    ]);
    expect(writer.stored).toEqual(cp(200));
    expect(dispatcher.stats.patternKeys).toBe(10);
  });

  it('a full flush (position lost) is announced as such', async () => {
    const { transport, dispatcher, batcher } = setup();
    batcher.flush(['u:*', 'm:*'], true, null);
    await dispatcher.drain();
    expect(transport.sent).toEqual(['flush u:*+m:*#1 all']);
  });

  async function withBarrier(outcome: BarrierOutcome) {
    const s = setup();
    const seen: string[] = [];
    s.txn(['a'], 100);
    s.batcher.barrier(() => {
      seen.push(`check after ${s.transport.sent.length} sends`);
      return Promise.resolve(outcome);
    }, cp(150));
    s.txn(['b'], 200);
    await s.dispatcher.drain();
    return { ...s, seen };
  }

  it('a barrier runs once everything before it is acknowledged; pass lets the stream go on', async () => {
    const { transport, writer, seen } = await withBarrier({ action: 'pass' });
    // After a's round and the round that stores a's checkpoint.
    expect(seen).toEqual(['check after 2 sends']);
    expect(transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'send cp@150 b#2@binlog.000001:200',
      'send cp@200',
    ]);
    expect(writer.stored).toEqual(cp(200));
  });

  it('a barrier that flushes removes the key space before anything after it', async () => {
    const { transport, writer } = await withBarrier({ action: 'flush', patterns: ['t:*'] });
    expect(transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'flush t:*#2',
      'send cp@150 b#3@binlog.000001:200',
      'send cp@200',
    ]);
    expect(writer.stored).toEqual(cp(200));
  });

  it('a barrier that halts stops everything after it; the checkpoint never passes it', async () => {
    const { transport, writer, halted } = await withBarrier({ action: 'halt' });
    expect(transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100']);
    expect(writer.stored).toEqual(cp(100));
    expect(halted).toEqual([]); // the policy that said halt reports its own error
  });

  it('a barrier check that throws halts with E_INTERNAL', async () => {
    const s = setup();
    s.batcher.barrier(() => Promise.reject(new Error('boom')), cp(1));
    await s.dispatcher.drain();
    expect(s.halted.map((e) => e.code)).toEqual(['E_INTERNAL']);
  });
});

describe('Dispatcher: the watermark (read your own writes)', () => {
  it('a message names its boundary (pos and gtid); the publisher learns each safe boundary', async () => {
    const s = setup();
    const messages: Array<Record<string, unknown>> = [];
    const encode = s.publisher.encode.bind(s.publisher);
    s.publisher.encode = (offset, body) => {
      const m = encode(offset, body);
      messages.push(JSON.parse(m) as Record<string, unknown>);
      return m;
    };
    const marks: unknown[] = [];
    s.publisher.acknowledged = (mark) => marks.push(mark);
    s.batcher.add(['a']);
    s.batcher.commit({ position: position('binlog.000001', 100), gtid: '0-1-10' });
    await s.dispatcher.drain();
    s.batcher.add(['b']);
    s.clock.advance(5); // sealed mid-transaction: it names the last boundary sent
    await s.dispatcher.drain();
    s.batcher.commit({ position: position('binlog.000001', 200), gtid: '0-1-11' }); // no keys
    s.clock.advance(5);
    await s.dispatcher.drain();
    expect(messages.map((m) => [m.keys, m.pos, m.gtid])).toEqual([
      [['a'], 'binlog.000001:100', '0-1-10'],
      [['b'], 'binlog.000001:100', '0-1-10'],
    ]);
    expect(marks).toEqual([
      { pos: 'binlog.000001:100', gtid: '0-1-10' },
      { pos: 'binlog.000001:200', gtid: '0-1-11' }, // an empty transaction moves it too
    ]);
  });
});

describe('Dispatcher: after the ack', () => {
  it('each acknowledged batch goes to onAcked; a failing onAcked fails nothing', async () => {
    const acked: string[][] = [];
    const s = setup({
      onAcked: (keys) => {
        acked.push([...keys]);
        throw new Error('queue full');
      },
    });
    s.txn(['a', 'b'], 100);
    await s.dispatcher.drain();
    s.txn(['c'], 200);
    await s.dispatcher.drain();
    expect(acked).toEqual([['a', 'b'], ['c']]);
    expect(s.writer.stored).toEqual(cp(200));
  });

  it('a batch sealed between boundaries names the last boundary sent', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    s.batcher.add(['b']);
    s.clock.advance(5); // sealed by the delay, no boundary of its own
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'send b#2@binlog.000001:100',
    ]);
  });

  it('the rate limit delays a round until its keys fit the rate', async () => {
    const s = setup({ rate: 2 }); // 2 keys a second
    s.txn(['a', 'b', 'c', 'd'], 100); // 4 keys: due at 2 s
    await settle();
    expect(s.transport.sent).toEqual([]);
    s.clock.advance(1999);
    await settle();
    expect(s.transport.sent).toEqual([]);
    s.clock.advance(1);
    await s.dispatcher.drain();
    expect(s.transport.sent[0]).toBe('send a+b+c+d#1@binlog.000001:100');
  });

  it('close() gives up after its timeout while Redis is away; the work is left for the checkpoint', async () => {
    const s = setup();
    s.transport.failNext = 1000;
    s.txn(['a'], 100);
    await settle();
    const closed = s.dispatcher.close(50);
    s.clock.advance(0);
    await new Promise((r) => setTimeout(r, 80)); // the close timeout is real time (withTimeout)
    await closed;
    expect(s.writer.stored).toBe(null);
    s.clock.advance(60_000);
    await settle();
    // Closed: the retry loop stopped instead of sending again.
    const sends = s.transport.sent.length;
    s.clock.advance(60_000);
    await settle();
    expect(s.transport.sent.length).toBe(sends);
  });
});
