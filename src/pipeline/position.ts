import { SluiceError } from '../errors/index.js';

/**
 * An immutable binlog coordinate: the file name and the byte offset of the
 * next event to read. Text form `binlog.000003:1234` (as in the contract).
 */
export interface BinlogPosition {
  readonly file: string;
  readonly pos: number;
}

export function position(file: string, pos: number): BinlogPosition {
  return Object.freeze({ file, pos });
}

/** `binlog.000003:1234` */
export function formatPosition(p: BinlogPosition): string {
  return `${p.file}:${p.pos}`;
}

const POSITION_RE = /^([^\s:/\\]+):(\d{1,15})$/;

/** Parses `FILE:POS`; throws E_POSITION_INVALID naming the input. */
export function parsePosition(text: string, field = 'position'): BinlogPosition {
  const m = POSITION_RE.exec(text.trim());
  if (!m?.[1] || !m[2]) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${field}: "${text}" is not a binlog position; expected FILE:POS, e.g. binlog.000003:1234`,
      { details: { field, value: text } },
    );
  }
  const pos = Number(m[2]);
  if (pos < 4) {
    throw new SluiceError(
      'E_POSITION_INVALID',
      `${field}: offset ${pos} is before the first event (4)`,
      { details: { field, value: text } },
    );
  }
  return position(m[1], pos);
}

/** The numeric sequence of a binlog file name (`binlog.000003` → 3), or -1. */
function fileSequence(file: string): number {
  const dot = file.lastIndexOf('.');
  const n = Number(file.slice(dot + 1));
  return dot >= 0 && Number.isInteger(n) ? n : -1;
}

/** Orders positions: by file sequence, then by offset. */
export function comparePositions(a: BinlogPosition, b: BinlogPosition): number {
  if (a.file !== b.file) {
    const d = fileSequence(a.file) - fileSequence(b.file);
    return d !== 0 ? d : a.file < b.file ? -1 : 1;
  }
  return a.pos - b.pos;
}

/** MariaDB GTID position (`0-1-42`, comma-separated per domain) or MySQL GTID set (`uuid:1-42`). */
const GTID_RE = /^[0-9A-Za-z:,\-\s]*$/;

export function parseGtidSet(text: string, field = 'gtid'): string {
  const value = text.trim();
  if (!GTID_RE.test(value)) {
    throw new SluiceError('E_POSITION_INVALID', `${field}: "${text}" is not a GTID set`, {
      details: { field, value: text },
    });
  }
  return value;
}
