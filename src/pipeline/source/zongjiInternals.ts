import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * One of zongji's own modules (`lib/…`), the very instance zongji itself
 * loads: zongji exports none of its classes, and the patches that change
 * them in place (selective decoding, table-map reuse) must reach those,
 * not copies. Rejects when zongji cannot be resolved.
 */
export async function zongjiModule<T>(path: `./lib/${string}.js`): Promise<T> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@vlasky/zongji'));
  return (await import(new URL(path, entry).href)) as T;
}
