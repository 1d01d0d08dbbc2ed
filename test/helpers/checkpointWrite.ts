import type { CheckpointWrite } from '../../src/pipeline/checkpoint/CheckpointWriter.js';
import { position } from '../../src/pipeline/position.js';

/** A checkpoint write at binlog.000001:4 of source `main`, nothing guarding it, with `over` on top. */
export function checkpointWrite(over: Partial<CheckpointWrite> = {}): CheckpointWrite {
  return {
    checkpoint: { position: position('binlog.000001', 4), gtid: undefined },
    key: 'sluice:checkpoint:{main}',
    json: '{"file":"binlog.000001","pos":4}',
    fence: null,
    primary: null,
    ...over,
  };
}
