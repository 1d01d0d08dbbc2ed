/**
 * A binlog coordinate and its order, below every folder that reads one
 * (pipeline/ streams them, bus/ compares watermarks with them): the file
 * name and the byte offset of the next event to read.
 */
export interface BinlogPosition {
  readonly file: string;
  readonly pos: number;
}

/** The numeric sequence of a binlog file name (`binlog.000003` → 3), or -1. */
function fileSequence(file: string): number {
  const dot = file.lastIndexOf('.');
  const n = Number(file.slice(dot + 1));
  return dot >= 0 && Number.isInteger(n) ? n : -1;
}

/** Orders positions: by file sequence (then name), then by offset; > 0 when `a` is ahead. */
export function comparePositions(a: BinlogPosition, b: BinlogPosition): number {
  if (a.file !== b.file) {
    const d = fileSequence(a.file) - fileSequence(b.file);
    return d !== 0 ? d : a.file < b.file ? -1 : 1;
  }
  return a.pos - b.pos;
}
