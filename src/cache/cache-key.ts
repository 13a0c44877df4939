/**
 * The cache key: route id + method + path + selected query parameters + selected request
 * headers + optional identity, in one canonical form, hashed (sha256 → base64url, 43
 * characters) so a key has a bounded size whatever the URL.
 *
 * Canonical form: a JSON array, so no separator can be smuggled through a value.
 * Query parameters are sorted by name (a stable sort, so repeated values keep their
 * order: `a=1&a=2` and `a=2&a=1` may mean different things). Header names are lowercased;
 * values are trimmed, inner whitespace runs collapsed, repeated lines joined with ", ".
 * A missing header and an empty one are different keys.
 */
import { createHash } from 'node:crypto'
import type { HttpHeaders } from './types.js'

export interface KeyParts {
  /** The route's stable id (its config index or name). */
  readonly route: string
  readonly method: string
  /** The gateway-facing path, without the query string. */
  readonly path: string
  /** The raw query string (without `?`) or parsed parameters. */
  readonly query?: string | URLSearchParams
  /** Query parameter names that select the variant; `'*'` or absent: all of them. */
  readonly queryKeys?: readonly string[] | '*'
  readonly headers?: HttpHeaders
  /** Request header names that select the variant (any case). */
  readonly headerKeys?: readonly string[]
  /** Who is asking, for routes that key by identity (e.g. a user id from a verified token). */
  readonly identity?: string
}

const FORMAT = 'k1'

function normalizeHeader (value: string | readonly string[] | undefined): string | null {
  if (value === undefined) return null
  const text = typeof value === 'string' ? value : value.join(', ')
  return text.trim().replace(/[ \t]+/g, ' ')
}

/** The canonical (unhashed) key, useful in logs and tests. */
export function canonicalKey (parts: KeyParts): string {
  const params = typeof parts.query === 'string' ? new URLSearchParams(parts.query) : (parts.query ?? new URLSearchParams())
  const wanted = parts.queryKeys === undefined || parts.queryKeys === '*' ? undefined : new Set(parts.queryKeys)
  const query = [...params].filter(([name]) => wanted === undefined || wanted.has(name))
  // Array.prototype.sort is stable: values of one name keep their request order.
  query.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  const headerNames = [...new Set((parts.headerKeys ?? []).map(h => h.toLowerCase()))].sort()
  const headers = headerNames.map(name => [name, normalizeHeader(parts.headers?.[name])])
  return JSON.stringify([FORMAT, parts.route, parts.method.toUpperCase(), parts.path, query, headers, parts.identity ?? null])
}

/** The key used in both tiers: 43 base64url characters. */
export function cacheKey (parts: KeyParts): string {
  return createHash('sha256').update(canonicalKey(parts)).digest('base64url')
}
