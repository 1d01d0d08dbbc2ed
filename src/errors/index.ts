export { ERROR_CODES, type ErrorCode } from './codes.js';
export { SluiceError, isSluiceError } from './SluiceError.js';
