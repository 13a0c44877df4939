/** Reading header values that may be absent, single or repeated. */
import type { HttpHeaders } from './types.js'

/** All values of a header as one comma-joined string (RFC 9110 §5.3), or undefined. */
export function headerText (headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name]
  if (v === undefined) return undefined
  return typeof v === 'string' ? v : v.join(', ')
}

/** The first value of a header, for singleton fields (Date, Expires, Age, ETag). */
export function headerFirst (headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name]
  if (v === undefined) return undefined
  return typeof v === 'string' ? v : v[0]
}

/** Comma-separated list members, trimmed and lowercased (Vary, Connection). */
export function headerList (headers: HttpHeaders, name: string): string[] {
  const text = headerText(headers, name)
  if (text === undefined) return []
  return text.split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '')
}
