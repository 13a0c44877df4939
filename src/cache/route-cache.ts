/**
 * One route's `cache:` block compiled for requests (once at boot): the CachePolicy, the
 * key parts and the tag templates, turned into the CacheRequest that ResponseCache.serve
 * takes. Shared by cached proxy and compose routes; no Fastify here.
 *
 * Identity: a route keying by a caller header (`key.identity`), or whose key holds the
 * Authorization header itself, tells callers apart in the key, so a request with
 * Authorization may be cached for that caller (RFC 9111 §3.5's concern is serving one
 * caller's answer to another). A request without the identity header is keyed as
 * anonymous and keeps the Authorization rule.
 */
import type { CacheRouteConfig } from '../config/cache-block.js'
import { cacheKey } from './cache-key.js'
import type { CacheRequest } from './response-cache.js'
import { RouteTags } from './route-tags.js'
import type { CachePolicy, HttpHeaders } from './types.js'

export interface RouteCacheRequest {
  /** The method the key uses (compose routes key HEAD as GET: same document). */
  readonly keyMethod: string
  readonly method: string
  /** The gateway path as the client sent it, without the query string. */
  readonly path: string
  /** The raw query string, without `?`. */
  readonly query: string
  readonly headers: HttpHeaders
  readonly params: Readonly<Record<string, string | undefined>>
}

/** Bound of a route's remembered keys (raw request parts → cache key). */
const MAX_MEMO_KEYS = 10_000

export class RouteCache {
  /** The route's id in keys and in the `route:<id>` tag: its gateway path or prefix. */
  readonly route: string
  readonly config: CacheRouteConfig
  readonly tags: RouteTags
  /** Request headers in the key (lower case): the route's, plus those the answer depends on. */
  readonly keyHeaders: readonly string[]
  readonly #shared: CachePolicy
  readonly #perCaller: CachePolicy
  /**
   * Raw request parts → cache key. The canonical form (query parsed and sorted) and its
   * sha256 were the largest cost of an L1 hit; hot URLs repeat, so they are remembered
   * (bounded). The raw parts as a JSON array cannot collide: equal arrays, equal keys; a
   * JSON array never starts like the plain form (a method), so the two forms cannot either.
   * A Map emptied when full rather than an LRU: a hit only reads it, and an LRU's recency
   * bookkeeping on every read cost more than recomputing the few keys lost at a clear.
   */
  readonly #keys = new Map<string, string>()

  /** `varyHeaders`: request headers the route's answer depends on anyway (a compose route's forwarded headers). */
  constructor (route: string, config: CacheRouteConfig, varyHeaders: readonly string[] = []) {
    this.route = route
    this.config = config
    this.tags = new RouteTags(config.tags)
    this.keyHeaders = [...new Set([...config.key.headers, ...varyHeaders.map(h => h.toLowerCase())])]
    const base: CachePolicy = {
      mode: config.mode,
      ttlMs: config.ttlMs,
      staleWhileRevalidateMs: config.staleWhileRevalidateMs,
      staleIfErrorMs: config.staleIfErrorMs,
      extraStatuses: config.statuses,
      incompleteTtlMs: config.incompleteTtlMs
    }
    const keyedByCredential = this.keyHeaders.includes('authorization')
    this.#shared = { ...base, keyByIdentity: keyedByCredential }
    this.#perCaller = { ...base, keyByIdentity: true }
  }

  request (req: RouteCacheRequest): CacheRequest {
    const identityHeader = this.config.key.identity
    const raw = identityHeader === undefined ? undefined : req.headers[identityHeader]
    const identity = raw === undefined ? undefined : typeof raw === 'string' ? raw : raw.join(', ')
    let memo: string
    if (identity === undefined && this.keyHeaders.length === 0) {
      // The usual route: method, path and query alone. Unambiguous: a method has no space
      // and the path (cut at the first "?") no "?".
      memo = `${req.keyMethod} ${req.path}?${req.query}`
    } else {
      const parts: Array<string | readonly string[] | undefined> = [req.keyMethod, req.path, req.query, identity]
      for (const name of this.keyHeaders) parts.push(req.headers[name])
      memo = JSON.stringify(parts)
    }
    let key = this.#keys.get(memo)
    if (key === undefined) {
      key = cacheKey({
        route: this.route,
        method: req.keyMethod,
        path: req.path,
        query: req.query,
        queryKeys: this.config.key.query ?? '*',
        headers: req.headers,
        headerKeys: this.keyHeaders,
        ...(identity === undefined ? {} : { identity })
      })
      if (this.#keys.size >= MAX_MEMO_KEYS) this.#keys.clear()
      this.#keys.set(memo, key)
    }
    return {
      key,
      method: req.method,
      headers: req.headers,
      route: this.route,
      path: req.path,
      policy: identity === undefined ? this.#shared : this.#perCaller,
      keyHeaders: this.keyHeaders,
      tags: this.tags.requestTags(req.params),
      lock: this.config.lock
    }
  }
}

/** Splits a request URL into its path and query string. */
export function splitUrl (url: string): { path: string, query: string } {
  const q = url.indexOf('?')
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) }
}
