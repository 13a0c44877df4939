/**
 * Cache outcomes per cached route, for the admin dashboard's hit ratio. Counted from the
 * X-Cache status each cached answer carries (src/cache/response-cache.ts sets it), keyed by
 * the route's id (its prefix or path), so the cache itself needs no change. Counts are this
 * process's since it started.
 */
import type { CacheStatus } from '../cache/types.js'
import type { RouteConfig } from '../config/types.js'

export interface CacheCounts {
  hits: number
  stale: number
  revalidated: number
  misses: number
  bypasses: number
}

export interface RouteCacheRatio extends CacheCounts {
  readonly route: string
  /**
   * Answers served without a full call to the service (HIT and STALE) over every cache
   * lookup (all outcomes but BYPASS, which never looked); undefined before the first one.
   */
  readonly hitRatio: number | undefined
}

export class CacheOutcomes {
  /** Fastify route url (`/api/p`, `/api/p/*`, a compose path) → route id. */
  readonly #byUrl = new Map<string, string>()
  readonly #counts = new Map<string, CacheCounts>()

  constructor (routes: readonly RouteConfig[]) {
    for (const route of routes) {
      if (route.kind === 'proxy' && route.cache !== undefined) {
        const urls = route.prefix === '/' ? ['/', '/*'] : [route.prefix, `${route.prefix}/*`]
        for (const url of urls) this.#byUrl.set(url, route.prefix)
        this.#counts.set(route.prefix, zero())
      } else if (route.kind === 'compose' && route.cache !== undefined) {
        this.#byUrl.set(route.path, route.path)
        this.#counts.set(route.path, zero())
      }
    }
  }

  /** Whether answers of this Fastify route url are counted (those of a cached route). */
  covers (routeUrl: string | undefined): boolean {
    return routeUrl !== undefined && this.#byUrl.has(routeUrl)
  }

  /** `routeUrl`: the matched Fastify route's url; `status`: the answer's X-Cache value. */
  record (routeUrl: string | undefined, status: unknown): void {
    if (routeUrl === undefined || typeof status !== 'string') return
    const id = this.#byUrl.get(routeUrl)
    const counts = id === undefined ? undefined : this.#counts.get(id)
    if (counts === undefined) return
    switch (status as CacheStatus) {
      case 'HIT': counts.hits++; break
      case 'STALE': counts.stale++; break
      case 'REVALIDATED': counts.revalidated++; break
      case 'MISS': counts.misses++; break
      case 'BYPASS': counts.bypasses++; break
    }
  }

  ratios (): RouteCacheRatio[] {
    return [...this.#counts].map(([route, c]) => {
      const looked = c.hits + c.stale + c.revalidated + c.misses
      return { route, ...c, hitRatio: looked === 0 ? undefined : (c.hits + c.stale) / looked }
    })
  }
}

function zero (): CacheCounts {
  return { hits: 0, stale: 0, revalidated: 0, misses: 0, bypasses: 0 }
}
