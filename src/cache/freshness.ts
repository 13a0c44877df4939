/**
 * How long a stored response is fresh, and how long it may be served stale afterwards.
 *
 * `mode: http` follows RFC 9111 §4.2.1 for a shared cache: s-maxage, else max-age, else
 * Expires − Date; no heuristic freshness (a response without explicit freshness is not
 * stored). The stale windows are the response's own stale-while-revalidate and
 * stale-if-error (RFC 5861) when present, else the route's; must-revalidate and
 * proxy-revalidate forbid serving stale at all (§5.2.2.2, §5.2.2.8).
 *
 * `mode: ttl` makes the gateway the origin's surrogate: the route's ttl and windows decide
 * and the upstream's timing directives are not consulted (its never-cache directives
 * still are, see storability.ts).
 */
import { parseCacheControl, deltaSeconds, type CacheControl } from './cache-control.js'
import { headerFirst, headerText } from './header-value.js'
import type { CachePolicy, HttpHeaders } from './types.js'

export interface Lifetimes {
  /** How long the response stays fresh from now (may be ≤ 0: stored only to serve stale). */
  readonly freshMs: number
  readonly staleWhileRevalidateMs: number
  readonly staleIfErrorMs: number
  /** The age the upstream reported (Age header), counted into the Age we send. */
  readonly initialAgeMs: number
}

/** The freshness lifetime in seconds from the response's own headers, or undefined. */
export function explicitLifetime (headers: HttpHeaders, cc: CacheControl = parseCacheControl(headers['cache-control'])): number | undefined {
  for (const name of ['s-maxage', 'max-age']) {
    const s = cc.seconds(name)
    // Present but unusable (`max-age=abc`, two different values): considered stale.
    if (s === null) return 0
    if (s !== undefined) return s
  }
  const expires = headerText(headers, 'expires')
  if (expires !== undefined) {
    const exp = Date.parse(expires)
    // An invalid Expires (notably "0") means "already expired" (RFC 9111 §5.3).
    if (Number.isNaN(exp)) return 0
    const dateText = headerFirst(headers, 'date')
    const date = dateText === undefined ? Number.NaN : Date.parse(dateText)
    const base = Number.isNaN(date) ? Date.now() : date
    return Math.max(0, Math.floor((exp - base) / 1000))
  }
  return undefined
}

/**
 * The upstream's Age in ms: 0 when absent, null when it is not exactly one delta-seconds
 * (`abc`, `-1`, `1.5`, `7200;x=y`, a list, several lines). RFC 9111 §5.1 would use the
 * first member of a list; we do not trust an age we cannot read at all, so such a
 * response counts as stale (never served fresh), which a cache may always do.
 */
export function upstreamAgeMs (headers: HttpHeaders): number | null {
  const value = headers.age
  if (value === undefined) return 0
  if (typeof value !== 'string') return value.length === 1 ? upstreamAgeMs({ age: value[0] }) : null
  const seconds = deltaSeconds(value.trim())
  return seconds === null ? null : seconds * 1000
}

/** Returns undefined when `mode: http` finds no explicit freshness (not storable). */
export function lifetimes (headers: HttpHeaders, policy: CachePolicy, incomplete = false): Lifetimes | undefined {
  const cc = parseCacheControl(headers['cache-control'])
  const age = upstreamAgeMs(headers)
  const initialAgeMs = age ?? 0
  let result: Lifetimes
  if (policy.mode === 'ttl') {
    result = {
      freshMs: policy.ttlMs,
      staleWhileRevalidateMs: policy.staleWhileRevalidateMs,
      staleIfErrorMs: policy.staleIfErrorMs,
      initialAgeMs: 0
    }
  } else {
    const lifetime = explicitLifetime(headers, cc)
    if (lifetime === undefined) return undefined
    const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate')
    const window = (name: string, fallback: number): number => {
      if (mustRevalidate) return 0
      const s = cc.seconds(name)
      if (s === undefined) return fallback
      return (s ?? 0) * 1000
    }
    result = {
      freshMs: age === null ? 0 : lifetime * 1000 - initialAgeMs,
      staleWhileRevalidateMs: window('stale-while-revalidate', policy.staleWhileRevalidateMs),
      staleIfErrorMs: window('stale-if-error', policy.staleIfErrorMs),
      initialAgeMs
    }
  }
  if (incomplete) {
    // A composed response missing an optional part is a stopgap: short, never served stale.
    result = { ...result, freshMs: Math.min(result.freshMs, policy.incompleteTtlMs ?? 0), staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }
  }
  return result
}
