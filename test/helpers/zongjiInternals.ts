import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const entry = pathToFileURL(createRequire(import.meta.url).resolve('@vlasky/zongji'));

/**
 * One of zongji's own modules (`lib/…`), the instance zongji itself uses:
 * the patches under test (selective decoding, table-map reuse) change its
 * classes in place. zongji does not export them.
 */
export async function zongjiModule<T>(path: `./lib/${string}.js`): Promise<T> {
  return (await import(new URL(path, entry).href)) as T;
}
