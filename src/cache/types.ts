/**
 * Shapes shared by the cache modules. Header names are lowercase everywhere (as Node and
 * undici give them); a header repeated on the wire is an array.
 */

export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/** What a fetch function (the proxy or the composer) hands to the cache. */
export interface UpstreamResponse {
  readonly status: number
  readonly headers: HttpHeaders
  readonly body: Buffer
  /**
   * Tags templated from the response's fields (e.g. `order:42` for each order in a list),
   * known only once the response is in. Request-time tags go in `CacheRequest.tags`.
   */
  readonly tags?: readonly string[]
  /** A composed response with an optional part missing (cached for `incompleteTtlMs` only). */
  readonly incomplete?: boolean
}

/** Per-route behaviour; docs/cache.md maps the planned config block onto it. */
export interface CachePolicy {
  /**
   * `ttl`: the route's `ttlMs` and stale windows decide freshness (the gateway is the
   * origin's surrogate). `http`: the upstream's Cache-Control/Expires decide (s-maxage >
   * max-age > Expires − Date, no heuristic freshness); stale windows come from the
   * response's stale-while-revalidate/stale-if-error when present, else from the policy.
   * The never-cache rules apply in both modes.
   */
  readonly mode: 'ttl' | 'http'
  readonly ttlMs: number
  readonly staleWhileRevalidateMs: number
  readonly staleIfErrorMs: number
  /** Statuses that may be cached besides 2xx-minus-206 (e.g. [404]). */
  readonly extraStatuses?: readonly number[]
  /** The key contains the caller's identity, so Authorization does not prevent caching. */
  readonly keyByIdentity?: boolean
  /** Lifetime of an incomplete composed response; 0 or absent: never cached. */
  readonly incompleteTtlMs?: number
}

/** REVALIDATED: a stale entry the upstream confirmed with a 304 (its body was not sent again). */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS'
