/**
 * Admin purge of the response cache (docs/cache.md#admin-purge):
 * `POST /admin/cache/purge` with exactly one of
 *   { "tags": ["user:7", "uri:/api/products/1"] }  every entry carrying one of the tags
 *   { "keys": ["<43-char cache key>"] }           those entries
 *   { "route": "/api/products" }                   every entry of a cached route (its path or prefix)
 * answering the count of what was purged: { "tags": 2 }, { "keys": 1 }, { "routes": 1 }.
 * Every instance drops its copies (the same pub/sub message as a write's invalidation).
 */
import type { FastifyInstance } from 'fastify'
import { routeTag } from '../../src/cache/response-cache.js'
import { errors } from '../../src/errors.js'

export interface CacheAdminOptions {
  /** Paths (compose) and prefixes (proxy) of the routes with a cache block. */
  cachedRoutes: readonly string[]
}

/** Bounded so one request cannot hold the store for long. */
const MAX_ITEMS = 1000

export default async function cacheAdminRoutes (app: FastifyInstance, opts: CacheAdminOptions): Promise<void> {
  app.post('/cache/purge', async request => {
    const body = request.body
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.badRequest(USAGE)
    const given = Object.keys(body)
    if (given.length !== 1 || !['tags', 'keys', 'route'].includes(given[0] as string)) throw errors.badRequest(USAGE)
    const { tags, keys, route } = body as { tags?: unknown, keys?: unknown, route?: unknown }
    const cache = app.responseCache
    if (tags !== undefined) {
      const list = stringList(tags, 'tags')
      await cache.invalidateTags(list)
      return { tags: new Set(list).size }
    }
    if (keys !== undefined) {
      const list = [...new Set(stringList(keys, 'keys'))]
      for (const key of list) await cache.purgeKey(key)
      return { keys: list.length }
    }
    if (typeof route !== 'string' || route === '') throw errors.badRequest('"route" must be the path or prefix of a cached route, e.g. "/api/products".')
    const path = route.length > 1 ? route.replace(/\/+$/, '') : route
    if (!opts.cachedRoutes.includes(path)) throw errors.unknownCacheRoute(route, opts.cachedRoutes)
    await cache.purgeTag(routeTag(path))
    return { routes: 1 }
  })
}

const USAGE = 'Send exactly one of {"tags": [...]}, {"keys": [...]} or {"route": "<path>"}.'

function stringList (value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ITEMS || !value.every(v => typeof v === 'string' && v !== '')) {
    throw errors.badRequest(`"${name}" must be a list of 1 to ${MAX_ITEMS} non-empty strings.`)
  }
  return value as string[]
}
