import type { BinlogEvent, default as ZongJi } from '@vlasky/zongji';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors/index.js';
import { systemClock, type Clock } from '../../infra/clock.js';
import { hostOf, splitSourceHosts } from '../../infra/sourceHosts.js';
import { formatPosition, type BinlogPosition } from '../position.js';
import { describeServer, type ServerIdentity } from '../ServerIdentity.js';
import type { BinlogSourceOptions } from './BinlogSourceOptions.js';
import { ErrorTriage, type StreamError } from './ErrorTriage.js';
import { EventTranslator, eventName, positionAt, type BinlogCursor } from './EventTranslator.js';
import { locatePrimary } from './locatePrimary.js';
import { notPrimaryError, PrimaryWatch } from './PrimaryWatch.js';
import { ReconnectBackoff } from './ReconnectBackoff.js';
import { installed as selectiveDecoding } from './selectiveRows.js';
import {
  askServer,
  gtidSeed,
  judgeServer,
  sourceChangedError,
  type ServerAnswer,
  type ServerChange,
} from './ServerCheck.js';
import type { SourceHandler } from './SourceHandler.js';
import { StallDetector, stalledError } from './StallDetector.js';
import { describeStart, type StartPoint } from './StartPoint.js';
import { createZongji, includeSchemaOf, startOptions, stopZongji } from './zongjiClient.js';

export type { ServerChange } from './ServerCheck.js';
export type { StartPoint } from './StartPoint.js';
export type { BinlogSourceOptions } from './BinlogSourceOptions.js';
export type { SourceHandler } from './SourceHandler.js';

/**
 * The binlog source. It connects (to the first primary when `source.url`
 * names several hosts, leaving it once demoted: PrimaryWatch), hands
 * binlog events on as typed SourceEvents with their transaction boundaries
 * (EventTranslator), reconnects with exponential backoff from the last
 * boundary it delivered (ReconnectBackoff, ErrorTriage for what is fatal),
 * detects a stalled connection through the server heartbeat
 * (StallDetector), and pauses the connection when the pipeline asks for
 * backpressure. zongjiClient makes, starts and stops each ZongJi.
 *
 * Every connection first asks the server who it is, on the binlog
 * connection itself and ahead of the dump request (a connection runs its
 * commands in order, so nothing is streamed before the answer): a position
 * from another server is never streamed (onServerChanged). Boundaries
 * carry the server and the GTIDs read so far (GtidTracker).
 */
export class BinlogSource {
  private readonly log: Logger;
  private zongji: ZongJi | null = null;
  /** SourceEvents out of binlog events; the resume point, the GTIDs and the server. */
  private readonly events: EventTranslator;
  /** The reconnect attempts and the pending retry. */
  private readonly reconnects: ReconnectBackoff;
  private generation = 0;
  private stopped = true;
  private paused = false;
  private stall: StallDetector | null = null;
  private readonly clock: Clock;
  private connectedAt: BinlogPosition | null = null;
  private readonly tableFilter: Record<string, string[]>;
  /** Fatal or retried, per connection error (counts decode failures). */
  private readonly triage = new ErrorTriage();
  private readonly hosts: readonly string[];
  private hostInUse = '';
  /** Whether the current connection's server was checked (events before that are a bug). */
  private verified = false;
  private primaryWatch: PrimaryWatch | null = null;

  constructor(
    private readonly options: BinlogSourceOptions,
    private readonly handler: SourceHandler,
  ) {
    this.log = options.logger.child({ component: 'source' });
    this.clock = options.clock ?? systemClock;
    this.reconnects = new ReconnectBackoff(options.reconnect, this.clock, this.log);
    this.events = new EventTranslator(handler, options.stopAt, options.tables);
    this.tableFilter = includeSchemaOf(options.tables);
    this.hosts = splitSourceHosts(options.url);
  }

  /** The server of the current (or last) connection; undefined before the first answered. */
  get server(): ServerIdentity | undefined {
    return this.events.server;
  }

  /** `host:port` of the current (or last) connection; '' before the first. */
  get host(): string {
    return this.hostInUse;
  }

  /** Starts streaming from `from`; returns at once, events follow through the handler. */
  start(from: StartPoint): void {
    this.events.resumeAt = from;
    this.stopped = false;
    this.connect();
  }

  /** Stops the stream; idempotent. No event is delivered after it resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    await this.closeZongji();
  }

  /**
   * Backpressure: stop reading from the socket (the server buffers, then
   * blocks). A connection not yet checked is paused once it is (verify),
   * so its handshake does not run into the server's connect_timeout.
   */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (this.verified) this.zongji?.connection?.pause();
    this.log.debug('binlog paused (backpressure)');
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stall?.activity();
    this.zongji?.connection?.resume();
    this.log.debug('binlog resumed');
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** The position the source would resume from after a reconnect. */
  get resumePoint(): StartPoint {
    return this.events.resumeAt;
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const [only] = this.hosts;
    if (this.hosts.length === 1 && only !== undefined) {
      this.open(gen, only);
      return;
    }
    locatePrimary(this.hosts).then(
      (url) => {
        if (gen === this.generation && !this.stopped) this.open(gen, url);
      },
      (err: unknown) => {
        if (gen !== this.generation) return;
        this.scheduleReconnect(
          err instanceof SluiceError
            ? err
            : new SluiceError('E_SOURCE_CONNECT', String(err), { cause: err }),
        );
      },
    );
  }

  private open(gen: number, url: string): void {
    const from = this.events.resumeAt;
    this.verified = false;
    this.hostInUse = hostOf(url);
    const zongji = createZongji(url, this.options.columns);
    this.zongji = zongji;
    this.connectedAt = null;
    if (this.options.columns !== undefined && !selectiveDecoding && this.reconnects.attempt === 0) {
      this.log.warn(
        'this zongji version cannot decode selected columns only: decoding every column (slower, still correct)',
      );
    }

    zongji.on('binlog', (event: BinlogEvent) => {
      if (gen !== this.generation) return;
      this.stall?.activity();
      if (!this.verified) {
        this.fail(
          new SluiceError('E_INTERNAL', 'a binlog event arrived before the server was identified'),
        );
        return;
      }
      try {
        const name = eventName(event);
        if (this.connectedAt === null && name !== 'heartbeat') this.streaming(zongji.options);
        if (this.events.translate(name, event, zongji.options)) this.reachedStop();
      } catch (err) {
        this.fail(
          err instanceof SluiceError
            ? err
            : new SluiceError('E_INTERNAL', `binlog event handler failed: ${String(err)}`, {
                cause: err,
              }),
        );
      }
    });
    zongji.on('error', (err: StreamError) => {
      if (gen !== this.generation) return;
      this.onError(err);
    });

    zongji.start(startOptions(this.options.serverId, this.tableFilter, from));
    // The binlog connection exists synchronously after start(); commands on
    // it run in order, so this SET precedes the dump request. The server then
    // sends a heartbeat after each idle period: silence means a stall.
    const periodNs = BigInt(this.options.heartbeatMs) * 1_000_000n;
    const conn = zongji.connection;
    if (conn === null) {
      this.onError(new Error('zongji opened no binlog connection'));
      return;
    }
    conn.query(`SET @master_heartbeat_period = ${periodNs}`, (err: unknown) => {
      if (err && gen === this.generation) this.onError(err as Error);
    });
    // Who answers, on this very connection and before the dump request.
    askServer(conn, from, (err, answer) => {
      if (gen !== this.generation) return;
      if (err !== null || answer === undefined) this.onError(err ?? new Error('no answer'));
      else this.verify(gen, from, answer);
    });
    this.armStallDetector(gen);
    this.log.info(
      {
        from: describeStart(from),
        host: this.hostInUse,
        serverId: this.options.serverId,
        attempt: this.reconnects.attempt,
      },
      'binlog connecting',
    );
  }

  /** The server answered: stream, or report another server (see judgeServer). */
  private verify(gen: number, from: StartPoint, answer: ServerAnswer): void {
    if (gen !== this.generation || this.stopped) return;
    this.events.server = answer.probe.identity;
    const judged = judgeServer(from, answer);
    if (judged.verdict === 'changed') {
      this.serverChanged({ ...judged.change, host: this.hostInUse });
      return;
    }
    if (judged.assumed && from.kind === 'position') {
      this.log.info(
        {
          server: describeServer(answer.probe.identity),
          host: this.hostInUse,
          at: formatPosition(from.position),
        },
        'the resume position names no server: taking it as one of this server',
      );
    }
    const kind = answer.probe.identity.kind;
    try {
      this.events.gtids.seed(kind, gtidSeed(from, answer));
    } catch (err) {
      // GTIDs of the other flavor (a checkpoint of a MySQL server, now on
      // MariaDB): unknown, so nothing is claimed.
      this.log.warn({ err: (err as Error).message }, 'cannot use the stored GTIDs here');
      this.events.gtids.seed(kind, undefined);
    }
    this.verified = true;
    // Paused for backpressure before this connection was checked (a
    // reconnect while the pipeline is full): it stops reading here, ahead
    // of the dump request, until resume(). Only the socket pauses: mysql2's
    // own pause() would also hold back the start of zongji's dump command
    // when zongji adds it after this check (its setup queries were slower),
    // and its resume() drops that held-back start: the stream would never
    // begin (seen once in CI under load).
    // No event can be in flight here: the dump request is not answered yet.
    if (this.paused) {
      (
        this.zongji?.connection as unknown as { stream?: { pause(): void } } | null
      )?.stream?.pause();
    }
    // A server demoted since locatePrimary chose it is left at the first check.
    if (this.hosts.length > 1) {
      this.primaryWatch = new PrimaryWatch(
        this.options.heartbeatMs,
        this.clock,
        () => (gen === this.generation ? (this.zongji?.ctrlConnection ?? null) : null),
        () => this.scheduleReconnect(notPrimaryError(this.hostInUse)),
      );
      this.primaryWatch.start();
    }
  }

  private serverChanged(change: ServerChange): void {
    this.stopped = true;
    this.clearTimers();
    void this.closeZongji();
    if (this.handler.onServerChanged !== undefined) {
      this.handler.onServerChanged(change);
      return;
    }
    this.handler.onFatal(sourceChangedError(change));
  }

  /** The first real event of a connection: the server accepted the start point. */
  private streaming(cursor: BinlogCursor): void {
    this.connectedAt = positionAt(cursor);
    this.reconnects.streaming();
    this.log.info({ at: formatPosition(this.connectedAt) }, 'binlog streaming');
    this.handler.onConnected?.(this.connectedAt);
  }

  /** The boundary at or past `stopAt` was handed on: nothing more is read. */
  private reachedStop(): void {
    this.stopped = true;
    this.clearTimers();
    void this.closeZongji();
  }

  private onError(err: StreamError): void {
    if (this.stopped) return;
    const { fatal, error } = this.triage.judge(err, this.events.resumeAt);
    if (fatal) this.fail(error);
    else this.scheduleReconnect(error);
  }

  private fail(error: SluiceError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    void this.closeZongji();
    this.handler.onFatal(error);
  }

  private scheduleReconnect(reason: SluiceError): void {
    if (this.stopped || this.reconnects.pending) return;
    this.generation++; // ignore anything the failed connection still emits
    this.stopStallDetector();
    this.primaryWatch?.stop();
    this.primaryWatch = null;
    void this.closeZongji();
    this.reconnects.schedule(reason, describeStart(this.events.resumeAt), () => this.connect());
  }

  private armStallDetector(gen: number): void {
    this.stopStallDetector();
    const period = this.options.heartbeatMs;
    this.stall = new StallDetector(
      period,
      this.clock,
      () => this.paused,
      (silentMs) => {
        if (gen !== this.generation) return;
        this.scheduleReconnect(stalledError(silentMs, period));
      },
    );
    this.stall.start();
  }

  private stopStallDetector(): void {
    this.stall?.stop();
    this.stall = null;
  }

  private clearTimers(): void {
    this.stopStallDetector();
    this.primaryWatch?.stop();
    this.primaryWatch = null;
    this.reconnects.cancel();
  }

  private async closeZongji(): Promise<void> {
    const zongji = this.zongji;
    this.zongji = null;
    if (zongji === null) return;
    await stopZongji(zongji);
  }
}
