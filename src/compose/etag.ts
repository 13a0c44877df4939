/**
 * Conditional reads of composed responses. The ETag is a hash of the composed body's bytes:
 * strong by construction (same bytes, same tag), and it covers everything that shapes the
 * answer, the parts' versions as much as the route's shape. Part ETags alone would not: a
 * part without one (a list) or a shape change would keep the tag while the body changes.
 */
import { hash } from 'node:crypto'

/**
 * SHA-256 (162 bits of it, base64url): collisions are out of reach even for a service
 * crafting its data, which is what lets the tag be strong. The one-shot `hash()` costs half
 * of a `createHash()` object for bodies of a few KB.
 */
export function composedEtag (body: Buffer): string {
  return `"${hash('sha256', body, 'base64url').slice(0, 27)}"`
}

const TAG = /\*|(?:W\/)?"[^"]*"/g

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`; `*` matches any. */
export function ifNoneMatchMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined || header === '') return false
  for (const match of header.matchAll(TAG)) {
    const tag = match[0]
    if (tag === '*' || tag.replace(/^W\//, '') === etag) return true
  }
  return false
}
