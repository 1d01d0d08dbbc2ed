export { KeyTemplate, renderValue } from './KeyTemplate.js';
export { RedisKeys } from './RedisKeys.js';
export { escapeGlob, globToRegExp } from './glob.js';
export { keySlot, hashTag } from './slot.js';
export type { ColumnValue, Row } from './values.js';
