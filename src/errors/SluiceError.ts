import type { ErrorCode } from './codes.js';

/**
 * The one error class of Sluice: a stable `code` from the catalog, a human
 * message, optional structured `details` (never secrets) and the `cause`.
 */
export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }

  /** The process exit code this error calls for: 2 for usage/configuration, 1 otherwise. */
  get exitCode(): 1 | 2 {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_CONFIG_INVALID',
  'E_CONFIG_NOT_FOUND',
  'E_CONFIG_PARSE',
  'E_CONFIG_ENV',
  'E_TEMPLATE_SYNTAX',
  'E_TEMPLATE_COLUMN',
  'E_TABLE_NOT_FOUND',
  'E_USAGE',
  'E_POSITION_INVALID',
]);

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}
