import { comparePositions, parsePosition } from '../../src/pipeline/position.js';

/**
 * Whether the `FILE:POS` text `at` is `target` or later. The shared MariaDB
 * carries other tests' writes too: a checkpoint may pass the head a test read
 * without ever being equal to it.
 */
export function atOrAfter(at: string | null, target: string): boolean {
  return at !== null && comparePositions(parsePosition(at), parsePosition(target)) >= 0;
}
