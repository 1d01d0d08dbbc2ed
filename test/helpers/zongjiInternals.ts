/**
 * The patches under test (selective decoding, table-map reuse) change
 * zongji's classes in place; tests reach them the way src does.
 */
export { zongjiModule } from '../../src/pipeline/source/zongjiInternals.js';
