/**
 * Path rewriting for proxy routes: the matched prefix is replaced by the route's
 * `rewrite`, the rest of the path and the query string are kept byte for byte
 * (no decoding and re-encoding, so upstreams see exactly what the client sent).
 *
 * The router matches the prefix on the decoded path (`/api/%75sers/7` is under
 * `/api/users`), so where the prefix ends in the URL as sent is found by decoding, never by
 * the prefix's length: cutting `/api/%75sers/7` after 10 characters would send `rs/7`.
 * The path itself was checked by ./request-target.ts before it gets here.
 */
import { errors } from '../errors.js'

export function rewritePath (url: string, prefix: string, rewrite: string): string {
  const rest = url.slice(prefixEnd(url, prefix))
  let base = rewrite
  if (base.endsWith('/') && rest.startsWith('/')) base = base.slice(0, -1)
  const path = base + rest
  if (path === '' || path.startsWith('?')) return '/' + path
  return path
}

/**
 * The reverse of rewritePath for a path the service names (a Location, a
 * Content-Location): the gateway path it is reachable at through this route, or
 * undefined when it lies outside the route's `rewrite` target.
 */
export function gatewayPath (servicePath: string, prefix: string, rewrite: string): string | undefined {
  const base = rewrite.endsWith('/') ? rewrite.slice(0, -1) : rewrite
  if (base !== '' && servicePath !== base && !servicePath.startsWith(base + '/')) return undefined
  const rest = servicePath.slice(base.length)
  if (prefix === '/') return rest === '' ? '/' : rest
  return rest === '/' ? prefix + '/' : prefix + rest
}

/**
 * Index in `url` just after `prefix`. The router only sends here URLs whose path is the
 * prefix or continues it with "/": the prefix as sent spans as many "/" as the prefix has
 * (the router does not decode "%2F" to match), and must decode to exactly the prefix.
 */
function prefixEnd (url: string, prefix: string): number {
  if (prefix === '/') return 0
  if (url.startsWith(prefix) && (url.length === prefix.length || url[prefix.length] === '/' || url[prefix.length] === '?')) return prefix.length
  let slashes = 0
  for (const c of prefix) if (c === '/') slashes++
  let end = 0
  let seen = 0
  while (end < url.length && url[end] !== '?') {
    if (url[end] === '/' && ++seen > slashes) break
    end++
  }
  let spelled: string | undefined
  try {
    spelled = decodeURIComponent(url.slice(0, end))
  } catch {}
  // Unreachable through the router; refusing is the safe answer should it ever happen.
  if (spelled !== prefix) throw errors.badPath(`does not spell the route prefix ${JSON.stringify(prefix)}`)
  return end
}
