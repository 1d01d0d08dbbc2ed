import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../errors/index.js';

/** The body of every error answer: `{"error":{"code","message"}}`. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Sends an error answer; the reply's other headers (X-Cache) are kept. */
export function sendError(
  reply: FastifyReply,
  status: number,
  code: ErrorCode,
  message: string,
): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message));
}
