/**
 * Entity tags for cached responses, and the If-None-Match decision (RFC 9110 §8.8.3,
 * §13.1.2).
 *
 * The upstream's ETag is kept when it sent one (it knows its representations best);
 * otherwise the cache makes a strong one from the body's sha256, so two instances caching
 * the same bytes agree on it.
 */
import { createHash } from 'node:crypto'

/** A strong ETag of the body: `"` + 32 base64url characters of its sha256 + `"`. */
export function bodyEtag (body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`
}

function opaque (tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}

/** Splits an If-None-Match list into entity tags; commas inside quotes are kept. */
function entityTags (header: string): string[] {
  const out: string[] = []
  const re = /\s*((?:W\/)?"[^"]*"|\*)\s*(?:,|$)/gy
  let m: RegExpExecArray | null
  let last = 0
  while ((m = re.exec(header)) !== null && m[0] !== '') {
    out.push(m[1]!)
    last = re.lastIndex
  }
  // A malformed list matches nothing rather than something by accident.
  return last === header.length ? out : []
}

/**
 * True when If-None-Match matches `etag` by the weak comparison §13.1.3 prescribes for
 * it (W/"a" matches "a"), or is `*`. Several header lines may be given.
 */
export function ifNoneMatchMatches (ifNoneMatch: string | readonly string[] | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  const text = typeof ifNoneMatch === 'string' ? ifNoneMatch : ifNoneMatch.join(', ')
  const want = opaque(etag)
  return entityTags(text.trim()).some(t => t === '*' || opaque(t) === want)
}
