/**
 * The never-cache rules of a shared cache (RFC 9111 §3, §3.5, §5.2), decided directive by
 * directive. Two questions:
 *
 * - `requestRule`: may this request use the cache at all (method, Range, Authorization)?
 * - `storability`: may this response be stored, and may coalesced waiters share it?
 *
 * "Shareable" is the weaker property that matters when several concurrent requests wait
 * on one upstream fetch: a 503 or a `no-cache` answer can be handed to all of them, but a
 * response with Set-Cookie, `private` or `no-store` may be personal and is not — each
 * waiter then fetches its own.
 */
import { parseCacheControl } from './cache-control.js'
import { explicitLifetime, lifetimes, type Lifetimes } from './freshness.js'
import { headerList } from './header-value.js'
import type { CachePolicy, HttpHeaders } from './types.js'

export type RequestDecision =
  | { readonly use: true, readonly authorized: boolean, readonly store: boolean }
  | { readonly use: false, readonly reason: 'method' | 'range' }

/**
 * GET and HEAD use the cache; anything else, and Range requests (a 206 is not the whole
 * representation), bypass it. `authorized` is set when the request carries Authorization
 * and the route does not key by identity: only responses marked shareable-with-
 * authorization (public, s-maxage, must-revalidate) may then be served or stored.
 * A request `no-store` keeps the response to this request out of the cache (§5.2.1.5).
 */
export function requestRule (method: string, headers: HttpHeaders, policy: CachePolicy): RequestDecision {
  const m = method.toUpperCase()
  if (m !== 'GET' && m !== 'HEAD') return { use: false, reason: 'method' }
  if (headers.range !== undefined) return { use: false, reason: 'range' }
  const authorized = headers.authorization !== undefined && policy.keyByIdentity !== true
  const cacheControl = headers['cache-control']
  // Most requests carry no Cache-Control: nothing to parse.
  const store = cacheControl === undefined || !parseCacheControl(cacheControl).has('no-store')
  return { use: true, authorized, store }
}

export type NotStorable =
  | 'request-no-store' | 'authorization' | 'no-store' | 'private' | 'no-cache' | 'set-cookie'
  | 'status' | 'vary' | 'no-freshness' | 'incomplete'

export type Storability =
  | {
    readonly storable: true
    readonly lifetimes: Lifetimes
    /** Reusable for requests with Authorization (§3.5: public, s-maxage, must-revalidate). */
    readonly authorizedOk: boolean
    /** Fields a qualified `no-cache="..."` forbids reusing: stored without them. */
    readonly stripFields: readonly string[]
    /** The upstream gave a validator (ETag, Last-Modified): worth keeping past freshness. */
    readonly revalidatable: boolean
  }
  | { readonly storable: false, readonly reason: NotStorable, readonly shareable: boolean }

export interface StorabilityInput {
  readonly request: { readonly headers: HttpHeaders, readonly authorized: boolean, readonly store: boolean }
  readonly response: { readonly status: number, readonly headers: HttpHeaders, readonly incomplete?: boolean }
  readonly policy: CachePolicy
  /** Request headers the key is built from (lowercase); a response may Vary only on these. */
  readonly keyHeaders: readonly string[]
}

/**
 * 2xx (not 206) and the route's `extraStatuses`; in `mode: http` also any other final
 * status the upstream gave explicit freshness (RFC 9111 §3: storing is not limited to
 * 200 when the response says how long it is fresh).
 */
function statusAllowed (status: number, policy: CachePolicy, explicitFreshness: boolean): boolean {
  if (status === 206) return false
  if (status >= 200 && status < 300) return true
  if (policy.mode === 'http' && explicitFreshness && status >= 200 && status < 600) return true
  return policy.extraStatuses?.includes(status) ?? false
}

/** Final statuses RFC 9110 §15 defines: those a cache "understands" (must-understand, §5.2.2.3). */
const UNDERSTOOD = new Set([
  200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426,
  500, 501, 502, 503, 504, 505
])

/** The upstream gave a validator: a stale copy can be revalidated with a conditional request. */
function hasValidator (headers: HttpHeaders): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined
}

export function storability ({ request, response, policy, keyHeaders }: StorabilityInput): Storability {
  const cc = parseCacheControl(response.headers['cache-control'])
  // Personal answers first: these are never shared, not even among coalesced waiters.
  if (cc.has('no-store')) return { storable: false, reason: 'no-store', shareable: false }
  // Any `private`, qualified or not: RFC 9111 would let us store a qualified one minus the
  // named fields, but the gateway's rule is simpler and safer — private is never shared.
  if (cc.has('private')) return { storable: false, reason: 'private', shareable: false }
  if (response.headers['set-cookie'] !== undefined) return { storable: false, reason: 'set-cookie', shareable: false }
  const authorizedOk = cc.has('public') || cc.has('s-maxage') || cc.has('must-revalidate')
  if (request.authorized && !authorizedOk) return { storable: false, reason: 'authorization', shareable: false }

  if (!request.store) return { storable: false, reason: 'request-no-store', shareable: true }
  const explicit = policy.mode === 'http' && explicitLifetime(response.headers, cc) !== undefined
  if (!statusAllowed(response.status, policy, explicit)) return { storable: false, reason: 'status', shareable: true }
  // must-understand: stored only when the status code's caching rules are known to us.
  if (cc.has('must-understand') && !UNDERSTOOD.has(response.status)) return { storable: false, reason: 'status', shareable: true }
  const validator = hasValidator(response.headers)
  // Bare no-cache: storable, but never reused without a successful revalidation
  // (§5.2.2.4); kept only when it can be revalidated, and never served stale.
  if (cc.bare('no-cache') && !validator) return { storable: false, reason: 'no-cache', shareable: true }
  const vary = headerList(response.headers, 'vary')
  if (vary.some(field => field === '*' || !keyHeaders.includes(field))) {
    // The key would not tell the variants apart: storing one would serve it for all.
    return { storable: false, reason: 'vary', shareable: true }
  }
  const incomplete = response.incomplete === true
  if (incomplete && (policy.incompleteTtlMs ?? 0) <= 0) return { storable: false, reason: 'incomplete', shareable: true }
  let times = lifetimes(response.headers, policy, incomplete)
  const mustRevalidate = cc.bare('no-cache')
  if (mustRevalidate || times === undefined || (times.freshMs <= 0 && times.staleWhileRevalidateMs <= 0 && times.staleIfErrorMs <= 0)) {
    // Nothing to serve without asking the upstream first: worth storing only to revalidate.
    if (!validator || incomplete) return { storable: false, reason: mustRevalidate ? 'no-cache' : 'no-freshness', shareable: true }
    times = { freshMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, initialAgeMs: times?.initialAgeMs ?? 0 }
  }
  return { storable: true, lifetimes: times, authorizedOk, stripFields: cc.fields('no-cache'), revalidatable: validator }
}
