/**
 * The URIs a successful write names besides its own (RFC 9111 §4.4): a cache may
 * invalidate the targets of Location and Content-Location, but only on the same origin,
 * so that a service cannot make the gateway drop another site's entries. Both fields are
 * resolved against the request the service received; a relative reference is always
 * same-origin, an absolute one only when its host is the host the client asked for.
 */
import { headerFirst } from './header-value.js'
import type { HttpHeaders } from './types.js'

/** Service-side paths (no query) named by `Location` and `Content-Location`. */
export function namedServicePaths (headers: HttpHeaders, servicePath: string, clientHost: string | undefined): string[] {
  const base = new URL(servicePath, 'http://service.invalid')
  const out: string[] = []
  for (const name of ['location', 'content-location']) {
    const value = headerFirst(headers, name)
    if (value === undefined || value === '') continue
    let url: URL
    try {
      url = new URL(value, base)
    } catch {
      continue // not a URI reference: names nothing
    }
    const relative = url.host === base.host
    if (!relative && (clientHost === undefined || url.host.toLowerCase() !== clientHost.toLowerCase())) continue
    if (!out.includes(url.pathname)) out.push(url.pathname)
  }
  return out
}
