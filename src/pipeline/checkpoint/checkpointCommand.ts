import { luaScript } from './lua.js';
import type { CheckpointWrite } from './CheckpointWriter.js';

/** How Redis answered a checkpoint write. */
export type CheckpointOutcome = 'written' | 'fenced' | 'other-primary';

/**
 * The command storing `write`, for a transport to send at the head of a
 * round: a plain SET when nothing guards it, else the checkpoint-set script
 * (fencing token, primary identity). Its keys share the checkpoint's slot.
 */
export function checkpointCommand(
  write: CheckpointWrite,
): readonly [name: string, ...args: Array<string | number>] {
  if (write.fence === null && write.primary === null) return ['set', write.key, write.json];
  return [
    'eval',
    luaScript('checkpoint-set-2'),
    2,
    write.fence?.key ?? write.key,
    write.key,
    write.fence === null ? '' : write.fence.token,
    write.json,
    write.primary ?? '',
  ];
}

/** The outcome of `write` from the reply to its checkpointCommand. */
export function checkpointOutcome(write: CheckpointWrite, reply: unknown): CheckpointOutcome {
  if (write.fence === null && write.primary === null) return 'written';
  const n = Number(reply);
  return n === 1 ? 'written' : n === -1 ? 'other-primary' : 'fenced';
}
