import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseFenceToken, type FenceToken } from '../bus/Watermark.js';
import type { CacheRead, CacheSource, ReadOptions, SluiceCache } from '../cache/SluiceCache.js';
import { isSluiceError } from '../errors/index.js';
import { keyValue } from '../db/columnKinds.js';
import type { DbPool } from '../db/createPool.js';
import { keysetPage, type KeysetPage } from '../db/keysetPage.js';
import { loadById } from '../db/loadById.js';
import { loadByIds } from '../db/loadByIds.js';
import type { JsonRow } from '../db/rows.js';
import { renderValue } from '../keys/KeyTemplate.js';
import { MAX_IDS, parseIdList } from './parseIdList.js';
import { describeKind, MAX_TEXT_ID, textSchema, type Resource } from './Resource.js';
import { sendError } from './sendError.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export interface ResourceRouteDeps {
  readonly cache: SluiceCache;
  readonly pool: DbPool;
  /**
   * How many rows the cached first page of a list holds (default 50, the
   * default limit). A first page asked with a smaller limit is cut from it;
   * a larger one is read from the database.
   */
  readonly firstPageSize: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The routes of one resource:
 * - `GET /v1/{name}/{id}`: one row, or 404 (cached, negative entries too);
 * - `GET /v1/{name}?ids=1,2,3`: `{items, missing}` (one readMany);
 * - `GET /v1/{name}?{by}=X&before=C&limit=N`: a keyset page (first page cached).
 */
export function registerResourceRoutes(
  app: FastifyInstance,
  resource: Resource,
  deps: ResourceRouteDeps,
): void {
  const { cache, pool } = deps;
  const base = `/v1/${resource.name}`;

  app.get<{ Params: { id: string } }>(
    `${base}/:id`,
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: textSchema(resource.idKind) },
          required: ['id'],
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const id = keyValue(resource.idKind, req.params.id);
      if (id === null) return badId(reply, resource);
      const fence = readOptions(req.headers[AFTER_HEADER]);
      if (fence instanceof Error) return badFence(reply, fence);
      const read = await cache.read(
        resource.keyOf(id.text),
        () => loadById(pool, resource.table, resource.idColumn, id.param),
        fence,
      );
      void reply.header('x-cache', read.source);
      if (!read.entry.present) {
        return sendError(reply, 404, 'E_NOT_FOUND', `${resource.name} ${id.text} not found`);
      }
      // Fast path: the cached JSON text goes out as is, never re-serialized.
      return reply.type(JSON_TYPE).send(read.json ?? JSON.stringify(read.entry.value));
    },
  );

  const list = resource.list;
  const query: Record<string, unknown> = {
    ids: { type: 'string', minLength: 1, maxLength: MAX_IDS * (2 * MAX_TEXT_ID + 1) },
  };
  if (list !== undefined) {
    query[list.by] = textSchema(list.byKind);
    query['before'] = textSchema(list.cursorKind);
    query['limit'] = { type: 'integer', minimum: 1, maximum: MAX_LIMIT };
  }
  const listHelp =
    list === undefined ? 'ids=1,2,3' : `ids=1,2,3 or ${list.by}=X[&before=CURSOR][&limit=N]`;

  app.get<{ Querystring: Record<string, string | number | undefined> }>(
    base,
    {
      schema: {
        querystring: { type: 'object', properties: query, additionalProperties: false },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const fence = readOptions(req.headers[AFTER_HEADER]);
      if (fence instanceof Error) return badFence(reply, fence);
      const ids = q['ids'];
      const by = list === undefined ? undefined : q[list.by];
      if (ids !== undefined && by !== undefined) {
        return sendError(reply, 400, 'E_BAD_REQUEST', `give either ids or ${list?.by}, not both`);
      }
      if (typeof ids === 'string') {
        if (q['before'] !== undefined || q['limit'] !== undefined) {
          return sendError(reply, 400, 'E_BAD_REQUEST', 'before and limit apply to list pages');
        }
        return getMany(reply, ids, fence);
      }
      if (list !== undefined && typeof by === 'string') {
        const limit = typeof q['limit'] === 'number' ? q['limit'] : DEFAULT_LIMIT;
        const before = typeof q['before'] === 'string' ? q['before'] : undefined;
        return getPage(reply, by, before, limit, fence);
      }
      return sendError(reply, 400, 'E_BAD_REQUEST', `${base} needs a query: ${listHelp}`);
    },
  );

  async function getMany(
    reply: FastifyReply,
    text: string,
    fence: ReadOptions,
  ): Promise<FastifyReply> {
    const parsed = parseIdList(text, resource.idKind);
    if (!parsed.ok) return sendError(reply, 400, 'E_BAD_REQUEST', parsed.message);
    const byKey = new Map(parsed.ids.map((id) => [resource.keyOf(id.text), id]));
    const reads = await cache.readMany<JsonRow>(
      [...byKey.keys()],
      async (keys) => {
        const wanted = keys.flatMap((k) => byKey.get(k) ?? []);
        const rows = await loadByIds(
          pool,
          resource.table,
          resource.idColumn,
          wanted.map((id) => id.param),
        );
        const found = new Map<string, JsonRow>();
        for (const key of keys) {
          const row = rows.get(byKey.get(key)?.text ?? '');
          if (row !== undefined) found.set(key, row);
        }
        return found;
      },
      fence,
    );
    const items: string[] = [];
    const missing: string[] = [];
    const sources: CacheSource[] = [];
    for (const [key, id] of byKey) {
      const read = reads.get(key);
      if (read === undefined) continue; // readMany answers every key it is given
      sources.push(read.source);
      if (read.entry.present) items.push(read.json ?? JSON.stringify(read.entry.value));
      else missing.push(id.text);
    }
    // Assembled from the cached JSON texts: no row is parsed or re-serialized.
    return reply
      .header('x-cache', worstSource(sources))
      .type(JSON_TYPE)
      .send(`{"items":[${items.join(',')}],"missing":${JSON.stringify(missing)}}`);
  }

  async function getPage(
    reply: FastifyReply,
    byText: string,
    beforeText: string | undefined,
    limit: number,
    fence: ReadOptions,
  ): Promise<FastifyReply> {
    if (list === undefined) throw new Error('unreachable: no list');
    const by = keyValue(list.byKind, byText);
    if (by === null) {
      return sendError(
        reply,
        400,
        'E_BAD_REQUEST',
        `${list.by}: must be ${describeKind(list.byKind)}`,
      );
    }
    const columns = { by: list.by, cursor: list.cursor };
    if (beforeText !== undefined || limit > deps.firstPageSize) {
      // Later pages (and oversized first pages) are not cached: the daemon
      // invalidates only the first page's key.
      const before = beforeText === undefined ? undefined : keyValue(list.cursorKind, beforeText);
      if (before === null) {
        return sendError(
          reply,
          400,
          'E_BAD_REQUEST',
          `before: must be ${describeKind(list.cursorKind)}`,
        );
      }
      const page = await keysetPage(pool, resource.table, columns, by.param, before?.param, limit);
      return reply.type(JSON_TYPE).send(JSON.stringify(page));
    }
    const read: CacheRead<KeysetPage> = await cache.read(
      resource.listKeyOf(by.text),
      () => keysetPage(pool, resource.table, columns, by.param, undefined, deps.firstPageSize),
      fence,
    );
    void reply.header('x-cache', read.source);
    if (!read.entry.present) throw new Error('a list page is never absent');
    const page = read.entry.value;
    if (limit === deps.firstPageSize && read.json !== null) {
      return reply.type(JSON_TYPE).send(read.json);
    }
    return reply.type(JSON_TYPE).send(JSON.stringify(cut(page, limit, list.cursor)));
  }
}

/** The first `limit` rows of a cached first page, with the cursor for what follows. */
export function cut(page: KeysetPage, limit: number, cursorColumn: string): KeysetPage {
  if (page.items.length <= limit) return page;
  const items = page.items.slice(0, limit);
  const last = items[items.length - 1];
  const cursor = last === undefined ? null : last[cursorColumn];
  return {
    items,
    nextCursor:
      cursor === undefined || cursor === null || typeof cursor === 'object'
        ? null
        : renderValue(cursor),
  };
}

/**
 * Read your own writes: `X-Sluice-After: <token>` (the GTID or FILE:POS of
 * the caller's own commit) fences the read (see SluiceCache `after`).
 */
export const AFTER_HEADER = 'x-sluice-after';

/** The read options of a request without a fence header (shared: never modified). */
const NO_FENCE: ReadOptions = Object.freeze({});

/**
 * Parsed fence tokens by header text: the clients of one writer send the
 * same token many times (and parsing one costs more than the L1 hit it
 * fences). Tokens are immutable; the map starts over past TOKEN_CACHE_SIZE.
 */
const parsedTokens = new Map<string, ReadOptions>();
export const TOKEN_CACHE_SIZE = 1024;

/** The read options a request's fence header asks for, or the parse error. */
export function readOptions(header: string | string[] | undefined): ReadOptions | Error {
  if (header === undefined) return NO_FENCE;
  const text = Array.isArray(header) ? header.join(',') : header;
  const known = parsedTokens.get(text);
  if (known !== undefined) return known;
  try {
    const after: FenceToken = parseFenceToken(text);
    if (parsedTokens.size >= TOKEN_CACHE_SIZE) parsedTokens.clear();
    const options: ReadOptions = Object.freeze({ after });
    parsedTokens.set(text, options);
    return options;
  } catch (err) {
    if (isSluiceError(err)) return err;
    throw err;
  }
}

function badFence(reply: FastifyReply, err: Error): FastifyReply {
  return sendError(reply, 400, 'E_FENCE_TOKEN_INVALID', `${AFTER_HEADER}: ${err.message}`);
}

/** The X-Cache of an answer made of several reads: the slowest level that answered. */
export function worstSource(sources: readonly CacheSource[]): CacheSource {
  if (sources.includes('fenced')) return 'fenced';
  if (sources.includes('miss')) return 'miss';
  if (sources.includes('l2')) return 'l2';
  return sources.length === 0 ? 'miss' : 'l1';
}

function badId(reply: FastifyReply, resource: Resource): FastifyReply {
  return sendError(reply, 400, 'E_BAD_REQUEST', `id: must be ${describeKind(resource.idKind)}`);
}
