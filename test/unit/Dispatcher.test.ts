import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BusPublisher } from '../../src/bus/BusPublisher.js';
import { SluiceError } from '../../src/errors/index.js';
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
    /** A replay: no checkpoint writer. */
    replay?: boolean;
    batchMaxKeys?: number;
    /** The leader's fencing token (HA); none by default. */
    fenceToken?: number;
    /** Runs when the batcher signals, before the dispatcher looks (a row event handled just then). */
    beforeKick?: () => void;
    onPrimaryChanged?: () => void;
  } = {},
) {
  const clock = new ManualClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const transport = new FakeTransport({ channel: 'ch', clock, logger: silent });
  const halted: SluiceError[] = [];
  let dispatcher: Dispatcher | null = null;
  const kick = (): void => {
    opts.beforeKick?.();
    dispatcher?.kick();
  };
  const batcher = new Batcher({
    batchMaxKeys: opts.batchMaxKeys ?? 100,
    batchMaxDelayMs: 5,
    maxInFlightKeys: 1000,
    roundMaxKeys: 10_000,
    oneItemPerRound: false,
    clock,
    onReady: kick,
    onBackpressure: () => undefined,
  });
  const fenceToken = opts.fenceToken;
  const writer = new CheckpointWriter({
    key: 'cp',
    clock,
    onDue: kick,
    ...(fenceToken === undefined ? {} : { fence: { key: 'fence', token: () => fenceToken } }),
  });
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
    writer: opts.replay === true ? null : writer,
    publisher,
    logger,
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
  return { clock, transport, halted, batcher, writer, publisher, dispatcher, txn, lines };
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
    expect(dispatcher.stats).toMatchObject({
      rounds: 3,
      batches: 2,
      keys: 3,
      checkpoints: 2,
      publishes: 2,
    });
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

  it('a halt during the leadership check (a re-stream) leaves the round unsettled: no boundary offered', async () => {
    const s = setup({
      onFenced: () => {
        s.dispatcher.halt();
        return Promise.resolve(true);
      },
    });
    s.txn(['a'], 100);
    await settle();
    s.transport.fenced = true;
    s.txn(['b'], 200);
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100 b#2@binlog.000001:200',
    ]);
    // b's boundary is never offered for a checkpoint by the retired dispatcher:
    // the refused one (a's) is still the newest pending.
    expect(s.writer.pending).toEqual(cp(100));
    expect(s.writer.stored).toBe(null);
    expect(s.halted).toEqual([]);
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
    expect(s.halted[0]?.message).toMatch(/^checkpoint write refused: Redis is another primary/);
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

  it('batches sealed between boundaries name the last boundary sent, one after another', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    s.batcher.add(['b']);
    s.clock.advance(5); // sealed by the delay, no boundary of its own
    await s.dispatcher.drain();
    s.batcher.add(['c']);
    s.clock.advance(5); // and again: still the boundary of 'a'
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'send b#2@binlog.000001:100',
      'send c#3@binlog.000001:100',
    ]);
    expect(s.halted).toEqual([]);
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
    // The close timeout is withTimeout's own timer; the drain cannot finish first (Redis is away).
    await s.dispatcher.close(0);
    expect(s.writer.stored).toBe(null);
    expect(s.lines.filter((l) => l.level === 40 && l.component === 'dispatch')).toEqual([
      expect.objectContaining({
        code: 'E_SHUTDOWN_TIMEOUT',
        inFlightKeys: 1,
        msg: 'closed with unacknowledged work; it will be re-read from the checkpoint',
      }),
    ]);
    s.clock.advance(60_000);
    await settle();
    // Closed: the retry loop stopped instead of sending again, and that is no failure to report.
    const sends = s.transport.sent.length;
    s.clock.advance(60_000);
    await settle();
    expect(s.transport.sent.length).toBe(sends);
    expect(s.halted).toEqual([]);
  });

  it('close() after a drain that completed logs nothing; once closed nothing more is sent', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await s.dispatcher.close(60_000);
    expect(s.writer.stored).toEqual(cp(100));
    expect(s.lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    s.txn(['b'], 200);
    await settle();
    await s.dispatcher.close(60_000);
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100']);
  });
});

describe('Dispatcher: a replay (no checkpoint writer)', () => {
  it('sends batches and flushes, never a checkpoint, and drains', async () => {
    const s = setup({ replay: true });
    s.txn(['a'], 100);
    await settle();
    s.batcher.flush(['t:*'], false, cp(150));
    s.txn(['b'], 200);
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'flush t:*#2',
      'send b#3@binlog.000001:200',
    ]);
    expect(s.dispatcher.stats).toMatchObject({ batches: 2, keys: 2, checkpoints: 0 });
    expect(s.halted).toEqual([]);
    await s.dispatcher.close(60_000);
    expect(s.lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });
});

describe('Dispatcher: what each message names', () => {
  it('a batch sealed by size after a boundary in the same round names that boundary', async () => {
    const s = setup({ batchMaxKeys: 2 });
    s.transport.hold();
    s.txn(['x'], 50);
    await settle();
    s.batcher.add(['a']);
    s.batcher.commit(cp(100)); // waits: a round is in flight
    s.batcher.add(['b']); // two keys: sealed, with the boundary 100
    s.batcher.add(['c', 'd']); // sealed mid-transaction, no boundary
    s.batcher.add(['e', 'f']); // and another
    s.transport.release();
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual([
      'send x#1@binlog.000001:50',
      'send cp@50 a+b#2@binlog.000001:100 c+d#3@binlog.000001:100 e+f#4@binlog.000001:100',
      'send cp@100',
    ]);
  });

  it("a batch sealed between boundaries after a flush names the flush's boundary", async () => {
    const s = setup();
    s.txn(['a'], 100);
    s.batcher.flush(['t:*'], false, cp(150));
    await s.dispatcher.drain();
    s.batcher.add(['b']);
    s.clock.advance(5);
    await s.dispatcher.drain();
    expect(s.transport.sent.at(-1)).toBe('send b#3@binlog.000001:150');
  });

  it('a watermark without a GTID has no gtid field at all', async () => {
    const s = setup();
    const marks: unknown[] = [];
    s.publisher.acknowledged = (mark) => marks.push(mark);
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(marks).toStrictEqual([{ pos: 'binlog.000001:100' }]);
  });
});

describe('Dispatcher: when the checkpoint goes', () => {
  it('without a drain, a checkpoint younger than the delay waits for a later round', async () => {
    const s = setup();
    s.transport.hold();
    s.txn(['a'], 100);
    await settle();
    s.txn(['b'], 200);
    s.transport.release();
    await settle(); // round 2 carries cp@100 (the first write goes at once)
    s.transport.hold();
    await settle();
    s.txn(['c'], 300);
    s.transport.release();
    await settle();
    await settle();
    // Round 3 goes within the 10 ms of the last write: no checkpoint on it.
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100 b#2@binlog.000001:200',
      'send c#3@binlog.000001:300',
    ]);
    s.clock.advance(10); // quiet: the pending checkpoint goes alone
    await s.dispatcher.drain();
    expect(s.transport.sent.at(-1)).toBe('send cp@300');
  });

  it('when the stream goes quiet the checkpoint goes alone after the delay, without a drain', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await settle();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100']);
    s.clock.advance(9);
    await settle();
    expect(s.transport.sent).toHaveLength(1);
    s.clock.advance(1);
    await settle();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100']);
    expect(s.writer.stored).toEqual(cp(100));
  });

  it('a due checkpoint rides the round of a batch still open instead of going alone', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await settle();
    s.clock.advance(8);
    s.batcher.add(['b']); // the open batch waits for its commit
    s.clock.advance(2); // 10: the checkpoint is due, and a round comes with the commit
    await settle();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100']);
    s.clock.advance(3);
    s.batcher.commit(cp(130));
    await settle();
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100 b#2@binlog.000001:130',
    ]);
    expect(s.writer.stored).toEqual(cp(100));
    expect(s.dispatcher.stats).toMatchObject({ rounds: 2, checkpoints: 1 });
  });

  it('an open boundary without keys brings the round that carries a due checkpoint', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await settle();
    s.clock.advance(8);
    s.batcher.commit(cp(200)); // a transaction without keys: its boundary seals at 13
    s.clock.advance(2);
    await settle();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100']);
    s.clock.advance(3);
    await s.dispatcher.drain();
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100', 'send cp@200']);
    expect(s.writer.stored).toEqual(cp(200));
  });

  it('a drain covers a row event handled just as it starts', async () => {
    let sneak = true;
    const s = setup({
      beforeKick: () => {
        if (!sneak) return;
        sneak = false;
        s.batcher.add(['x']); // open, waiting for the delay
      },
    });
    let drained = false;
    const draining = s.dispatcher.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    s.clock.advance(5);
    await draining;
    expect(s.transport.sent).toEqual(['send x#1']);
  });

  it('keys added while a drain is under way are sealed when the round in flight ends, and drained too', async () => {
    const s = setup();
    s.txn(['a'], 100);
    await settle();
    s.transport.hold();
    let drained = false;
    const draining = s.dispatcher.drain().then(() => (drained = true));
    await settle(); // the checkpoint round is in flight
    s.batcher.add(['late']); // no commit yet: it would wait for the delay, but a drain hurries
    expect(drained).toBe(false);
    s.transport.release();
    await draining;
    expect(s.clock.now()).toBe(0);
    expect(s.transport.sent).toEqual([
      'send a#1@binlog.000001:100',
      'send cp@100',
      'send late#2@binlog.000001:100',
    ]);
  });
});

describe('Dispatcher: halting', () => {
  it('nothing after a barrier that halts is checked, sent or flushed', async () => {
    const s = setup();
    const checked: string[] = [];
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    s.batcher.barrier(() => {
      checked.push('first');
      return Promise.resolve({ action: 'halt' });
    }, cp(150));
    s.batcher.barrier(() => {
      checked.push('second');
      return Promise.resolve({ action: 'pass' });
    }, cp(160));
    s.batcher.flush(['t:*'], false, cp(170));
    await settle();
    await s.dispatcher.drain();
    expect(checked).toEqual(['first']);
    expect(s.transport.sent).toEqual(['send a#1@binlog.000001:100', 'send cp@100']);
  });

  it('a barrier check failing with a SluiceError halts with that error', async () => {
    const s = setup();
    const err = new SluiceError('E_SCHEMA_MISMATCH', 'schema moved');
    s.batcher.barrier(() => Promise.reject(err), cp(1));
    await s.dispatcher.drain();
    expect(s.halted).toEqual([err]);
  });

  it('any other failure halts with E_INTERNAL, naming and keeping its cause', async () => {
    const s = setup();
    const boom = new Error('boom');
    s.batcher.barrier(() => Promise.reject(boom), cp(1));
    await s.dispatcher.drain();
    expect(s.halted).toHaveLength(1);
    expect(s.halted[0]).toMatchObject({
      code: 'E_INTERNAL',
      message: 'dispatch failed: Error: boom',
    });
    expect(s.halted[0]?.cause).toBe(boom);
  });

  it.each([
    [undefined, 0],
    [7, 7],
  ])('E_FENCED names the stale token (fence token %s)', async (fenceToken, named) => {
    const s = setup(fenceToken === undefined ? {} : { fenceToken });
    s.transport.fenced = true;
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(s.halted.map((e) => e.message)).toEqual([
      `checkpoint write refused: fencing token ${named} is stale (another instance leads)`,
    ]);
  });
});

describe('Dispatcher: logs', () => {
  it('a flush is logged at info with what it removed', async () => {
    const s = setup();
    s.batcher.flush(['u:*', 'm:*'], true, null);
    await s.dispatcher.drain();
    expect(s.lines).toEqual([
      expect.objectContaining({
        level: 30,
        component: 'dispatch',
        patterns: ['u:*', 'm:*'],
        flushAll: true,
        removed: 20,
        msg: 'key space flushed',
      }),
    ]);
  });

  it('a flush without patterns (an L1 reset) is logged as such', async () => {
    const s = setup();
    s.batcher.flush([], true, null);
    await s.dispatcher.drain();
    expect(s.lines).toEqual([
      {
        level: 30,
        time: expect.any(Number) as number,
        pid: expect.any(Number) as number,
        hostname: expect.any(String) as string,
        component: 'dispatch',
        flushAll: true,
        msg: 'L1 reset announced',
      },
    ]);
  });

  it('a failing onAcked is logged at warn; without one nothing is', async () => {
    const s = setup({
      onAcked: () => {
        throw new Error('queue full');
      },
    });
    s.txn(['a'], 100);
    await s.dispatcher.drain();
    expect(s.lines).toEqual([
      expect.objectContaining({
        level: 40,
        component: 'dispatch',
        err: 'queue full',
        msg: 'onAcked failed',
      }),
    ]);
    const quiet = setup();
    quiet.txn(['a'], 100);
    await quiet.dispatcher.drain();
    expect(quiet.lines).toEqual([]);
  });
});
