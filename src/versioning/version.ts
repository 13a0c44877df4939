/**
 * Where an owner service puts an entity's version, and reading it back: an integer in
 * the ETag (`"7"`, or weak `W/"7"`) or in a body field (`{ "version": 7 }`).
 *
 * Only integers are versions: dependents compare them ("apply only if newer"), so an
 * opaque ETag such as a hash cannot order two writes and is refused.
 */

export type VersionSource =
  | { readonly kind: 'etag' }
  | { readonly kind: 'field', readonly field: string }

const ETAG = /^\s*(?:W\/)?"(\d{1,15})"\s*$/

/** The integer in an ETag header, or undefined when it holds none. */
export function versionFromEtag (etag: string | string[] | undefined): number | undefined {
  const value = Array.isArray(etag) ? etag[0] : etag
  if (value === undefined) return undefined
  const match = ETAG.exec(value)
  if (match === null) return undefined
  return positive(Number(match[1]))
}

/** The integer in `body[field]` (a JSON number, or a string of digits), or undefined. */
export function versionFromBody (body: unknown, field: string): number | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const value = (body as Record<string, unknown>)[field]
  if (typeof value === 'number') return positive(value)
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) return positive(Number(value))
  return undefined
}

/** The version of an owner's answer, from where the route's config says it is. */
export function extractVersion (source: VersionSource, headers: { etag?: string | string[] | undefined }, body: unknown): number | undefined {
  return source.kind === 'etag' ? versionFromEtag(headers.etag) : versionFromBody(body, source.field)
}

function positive (n: number): number | undefined {
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined
}
