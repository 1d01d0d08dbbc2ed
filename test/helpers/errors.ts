import { SluiceError } from '../../src/errors/index.js';

/** The SluiceError `fn` throws (to assert its code, message and details); fails if it throws nothing. */
export function thrown(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('did not throw');
}
