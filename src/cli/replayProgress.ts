import { formatPosition, type BinlogPosition } from '../pipeline/position.js';
import { bytesBetween, type BinaryLog } from '../source-admin/ServerInfo.js';

/** What the replay has done so far (Replayer.stats). */
export interface ReplayCounters {
  readonly rows: number;
  readonly keys: number;
  readonly position: BinlogPosition | null;
}

/** Progress of a replay, as printed: JSON lines off a terminal, a bar on one. */
export interface ReplayProgress {
  readonly type: 'progress';
  readonly position: string;
  readonly doneBytes: number;
  readonly totalBytes: number;
  readonly percent: number;
  readonly rows: number;
  readonly keys: number;
  readonly rowsPerSec: number;
  readonly keysPerSec: number;
  /** Seconds left at the average byte rate so far; null before any byte was read. */
  readonly etaSeconds: number | null;
}

/** Pure: the progress of `counters` within [from, to] after `elapsedMs`. */
export function progressOf(
  counters: ReplayCounters,
  range: {
    readonly logs: readonly BinaryLog[];
    readonly from: BinlogPosition;
    readonly to: BinlogPosition;
  },
  elapsedMs: number,
  finished = false,
): ReplayProgress {
  const total = bytesBetween(range.logs, range.from, range.to) ?? 0;
  const at = counters.position ?? range.from;
  const read = Math.min(total, bytesBetween(range.logs, range.from, at) ?? 0);
  const done = finished ? total : read;
  const seconds = Math.max(0.001, elapsedMs / 1000);
  const byteRate = done / seconds;
  return {
    type: 'progress',
    position: formatPosition(finished ? range.to : at),
    doneBytes: done,
    totalBytes: total,
    percent: total === 0 ? 100 : Math.round((1000 * done) / total) / 10,
    rows: counters.rows,
    keys: counters.keys,
    rowsPerSec: Math.round(counters.rows / seconds),
    keysPerSec: Math.round(counters.keys / seconds),
    etaSeconds: finished ? 0 : byteRate > 0 ? Math.ceil((total - done) / byteRate) : null,
  };
}

const BAR = 30;

/** Pure: one terminal line, `[######------]  42.0%  binlog.000003:1234  … rows/s  … keys/s  ETA 0:12`. */
export function renderBar(p: ReplayProgress): string {
  const filled = Math.round((BAR * p.percent) / 100);
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ${p.percent.toFixed(1).padStart(5)}%  ${p.position}  ` +
    `${p.rowsPerSec} rows/s  ${p.keysPerSec} keys/s  ETA ${p.etaSeconds === null ? '?' : clock(p.etaSeconds)}`
  );
}

function clock(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * Shows progress on stderr while `counters()` advances: a bar redrawn every
 * 250 ms on a terminal, else a JSON line every second. The returned function
 * prints the final state (100 % when `finished`) and stops.
 */
export function showReplayProgress(
  counters: () => ReplayCounters,
  range: Parameters<typeof progressOf>[1],
  started: number,
  out: NodeJS.WriteStream = process.stderr,
): (finished: boolean) => void {
  const tty = out.isTTY === true;
  const draw = (finished: boolean): void => {
    const p = progressOf(counters(), range, Date.now() - started, finished);
    out.write(tty ? `\r\x1b[K${renderBar(p)}` : `${JSON.stringify(p)}\n`);
  };
  const timer = setInterval(() => draw(false), tty ? 250 : 1000);
  timer.unref();
  return (finished) => {
    clearInterval(timer);
    draw(finished);
    if (tty) out.write('\n');
  };
}
