/**
 * Path rewriting for proxy routes: the matched prefix is replaced by the route's
 * `rewrite`, the rest of the path and the query string are kept byte for byte
 * (no decoding and re-encoding, so upstreams see exactly what the client sent).
 */
export function rewritePath (url: string, prefix: string, rewrite: string): string {
  // The router only sends here URLs equal to the prefix or continuing it with '/' or '?'.
  const rest = prefix === '/' ? url : url.slice(prefix.length)
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
