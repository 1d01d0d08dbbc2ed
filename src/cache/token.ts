import { randomBytes } from 'node:crypto';

/** 96 random bits per process, then a counter: unique lease/lock tokens without a syscall per read. */
const TOKEN_PREFIX = randomBytes(12).toString('base64url');
let tokenCounter = 0;

/** A token no other fill, write or lock (in any process) holds. */
export function token(): string {
  return `${TOKEN_PREFIX}.${(++tokenCounter).toString(36)}`;
}
