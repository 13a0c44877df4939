/**
 * The checks a JSON Schema cannot express: references between sections (a route's service
 * must exist), relations between entries (two routes with the same prefix), and the
 * contents of strings (URLs, path prefixes, durations, sizes).
 *
 * They run even when schema validation failed, so a user sees every problem in one run.
 * The document may therefore be malformed anywhere: every access is guarded, and a value
 * of the wrong type is skipped here because the validator already reported it.
 *
 * Durations and sizes are parsed and checked by ./units.ts (re-exported here, where the
 * route kinds have always imported them from).
 */
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'
import { checkDuration, checkSize } from './units.js'
import { checkServiceReference } from './service-reference.js'
import { checkWriteRoutes } from './write-route.js'
import { checkComposeRoutes } from './compose-route.js'
import { checkCacheBlocks, checkCacheSettings } from './cache-block.js'
import { checkOverload, checkRouteRetries, checkServiceResilience } from './resilience-block.js'
import { checkServerLimits } from './server-limits.js'
import { checkPlainPath } from './route-path.js'
import { checkObservability } from './observability-block.js'
import { checkWorkers } from './workers.js'

export { checkDuration, checkSize, parseDuration, parseSize } from './units.js'

export function crossCheck (doc: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (!isObject(doc)) return issues
  checkServer(doc.server, issues)
  checkStore(doc.store, issues)
  checkWorkers(doc, issues)
  const serviceNames = checkServices(doc.services, issues)
  checkRoutes(doc.routes, serviceNames, issues)
  checkWriteRoutes(doc.routes, serviceNames, RESERVED_PATHS, issues)
  checkComposeRoutes(doc.routes, serviceNames, RESERVED_PATHS, issues)
  checkCacheSettings(doc.cache, issues)
  checkCacheBlocks(doc.routes, issues)
  checkRouteRetries(doc.routes, doc.services, issues)
  checkObservability(doc.observability, doc.routes, issues)
  return issues
}

function checkServer (server: unknown, issues: ConfigIssue[]): void {
  if (!isObject(server)) return
  checkSize(server.bodyLimit, ['server', 'bodyLimit'], issues)
  checkDuration(server.shutdownTimeout, ['server', 'shutdownTimeout'], issues)
  checkOverload(server.overload, issues)
  checkServerLimits(server, issues)
}

/** Paths the gateway serves itself; configured routes may not shadow them. */
export const RESERVED_PATHS = ['/health', '/ready', '/metrics', '/admin'] as const

function checkStore (store: unknown, issues: ConfigIssue[]): void {
  if (isObject(store) && store.kind === 'redis') checkDuration(store.timeout, ['store', 'timeout'], issues)
  if (!isObject(store) || store.kind !== 'redis' || typeof store.url !== 'string' || store.url === '') return
  const url = tryUrl(store.url)
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    issues.push({ path: 'store.url', message: `must be a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379" (found ${JSON.stringify(store.url)})` })
  }
  // Keys are written as `${prefix}{${key}}` so that a key and its companions share a
  // Redis Cluster slot; a brace in the prefix would become the hash tag instead.
  if (typeof store.prefix === 'string' && /[{}]/.test(store.prefix)) {
    issues.push({ path: 'store.prefix', message: `must not contain "{" or "}" (found ${JSON.stringify(store.prefix)}); Junction adds its own hash tags for Redis Cluster` })
  }
}

/** Checks every service; returns the names defined, for the routes' references. */
function checkServices (services: unknown, issues: ConfigIssue[]): string[] {
  if (!isObject(services)) return []
  const names = Object.keys(services)
  if (names.length === 0) {
    issues.push({ path: 'services', message: 'no services are defined; add one, e.g. users: { urls: [http://127.0.0.1:3001] }' })
  }
  for (const name of names) {
    const service = services[name]
    if (!isObject(service)) continue
    const at = (...more: PathSegment[]): PathSegment[] => ['services', name, ...more]
    checkUrls(service.urls, at('urls'), issues)
    checkDuration(service.timeout, at('timeout'), issues)
    checkDuration(service.connectTimeout, at('connectTimeout'), issues)
    checkDuration(service.keepAliveTimeout, at('keepAliveTimeout'), issues)
    checkServiceResilience(service, at(), issues)
  }
  return names
}

function checkUrls (urls: unknown, path: PathSegment[], issues: ConfigIssue[]): void {
  if (!Array.isArray(urls)) return
  const seen = new Map<string, number>()
  urls.forEach((text: unknown, i) => {
    if (typeof text !== 'string' || text === '') return
    const at = formatPath([...path, i])
    const url = tryUrl(text)
    if (url === undefined) {
      issues.push({ path: at, message: `${JSON.stringify(text)} is not an absolute URL; write scheme, host and port, e.g. "http://127.0.0.1:3001"` })
      return
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      issues.push({ path: at, message: `must be an http:// or https:// URL (found ${JSON.stringify(text)}); e.g. ${JSON.stringify(`http://${text.replace(/^[a-z+.-]+:\/\//i, '')}`)}` })
      return
    }
    // The path toward a service is decided per route (its rewrite); a path here would be
    // silently combined with it, or silently dropped, depending on the proxy code.
    // (A host cannot contain "?" or "#", so finding them in the text means a query or fragment, even an empty one.)
    const extra = url.pathname !== '/'
      ? `a path (${JSON.stringify(url.pathname)})`
      : text.includes('?') ? 'a query string' : text.includes('#') ? 'a fragment' : undefined
    if (extra !== undefined) {
      issues.push({ path: at, message: `${JSON.stringify(text)} has ${extra}; write only scheme, host and port (${JSON.stringify(url.origin)}): the route's rewrite decides the upstream path` })
      return
    }
    const first = seen.get(url.origin)
    if (first !== undefined) {
      issues.push({ path: at, message: `duplicate of urls[${first}] (${JSON.stringify(url.origin)}); list each instance once` })
      return
    }
    seen.set(url.origin, i)
  })
}

function checkRoutes (routes: unknown, serviceNames: readonly string[], issues: ConfigIssue[]): void {
  if (routes === undefined || (Array.isArray(routes) && routes.length === 0)) {
    issues.push({ path: 'routes', message: 'no routes are defined, so there is nothing to serve; add one, e.g. - { proxy: /api/users, service: users }' })
    return
  }
  if (!Array.isArray(routes)) return
  /** Prefix without its trailing slash → index of the first route using it. */
  const prefixes = new Map<string, number>()
  routes.forEach((route: unknown, index) => {
    if (!isObject(route)) return
    const at = (key: string): PathSegment[] => ['routes', index, key]
    if (typeof route.proxy === 'string' && route.proxy !== '') {
      const ok = checkProxyPrefix(route.proxy, at('proxy'), issues)
      if (ok) checkDuplicatePrefix(route.proxy, index, routes, prefixes, issues)
    }
    if (typeof route.rewrite === 'string' && route.rewrite !== '') checkRewrite(route.rewrite, at('rewrite'), issues)
    checkServiceReference(route.service, serviceNames, at('service'), issues)
    checkSize(route.bodyLimit, at('bodyLimit'), issues)
  })
}

/** Returns whether the prefix is well-formed (only then is comparing it with others meaningful). */
function checkProxyPrefix (prefix: string, path: PathSegment[], issues: ConfigIssue[]): boolean {
  const at = formatPath(path)
  if (!prefix.startsWith('/')) {
    issues.push({ path: at, message: `must start with "/" (found ${JSON.stringify(prefix)}); write ${JSON.stringify('/' + prefix)}` })
    return false
  }
  if (/[?#]/.test(prefix)) {
    issues.push({ path: at, message: `must be a path without "?" or "#" (found ${JSON.stringify(prefix)}); routes match the path only, and the query string is forwarded as is` })
    return false
  }
  if (!checkPlainPath(prefix, path, issues)) return false
  const reserved = RESERVED_PATHS.find(r => prefix === r || prefix.startsWith(r + '/') || prefix === r + '/')
  if (reserved !== undefined) {
    issues.push({ path: at, message: `${JSON.stringify(reserved)} is reserved for the gateway's own endpoints (${RESERVED_PATHS.join(', ')}); choose another prefix, e.g. ${JSON.stringify('/api' + prefix)}` })
    return false
  }
  if (/[:*]/.test(prefix)) {
    const fixed = prefix.split('/').slice(0, prefix.split('/').findIndex(s => /[:*]/.test(s))).join('/') || '/'
    issues.push({ path: at, message: `path parameters (":id") and wildcards ("*") are not supported in a proxy prefix (found ${JSON.stringify(prefix)}); use the fixed part ${JSON.stringify(fixed)}, which forwards everything under it` })
    return false
  }
  return true
}

function checkDuplicatePrefix (prefix: string, index: number, routes: readonly unknown[], prefixes: Map<string, number>, issues: ConfigIssue[]): void {
  const key = prefix.length > 1 ? prefix.replace(/\/+$/, '') || '/' : prefix
  const first = prefixes.get(key)
  if (first === undefined) {
    prefixes.set(key, index)
    return
  }
  const other = routes[first] as { proxy: string }
  issues.push({
    path: formatPath(['routes', index, 'proxy']),
    message: other.proxy === prefix
      ? `${JSON.stringify(prefix)} is already routed by routes[${first}]; merge the two routes, or give one a different prefix`
      : `${JSON.stringify(prefix)} overlaps routes[${first}] (${JSON.stringify(other.proxy)}): they differ only by a trailing slash, so both match the same requests; keep one`
  })
}

function checkRewrite (rewrite: string, path: PathSegment[], issues: ConfigIssue[]): void {
  const at = formatPath(path)
  if (!rewrite.startsWith('/')) {
    issues.push({ path: at, message: `must start with "/" (found ${JSON.stringify(rewrite)}); write ${JSON.stringify('/' + rewrite)}` })
  } else if (/[?#]/.test(rewrite)) {
    issues.push({ path: at, message: `must be a path without "?" or "#" (found ${JSON.stringify(rewrite)}); the query string of each request is forwarded as is` })
  } else {
    checkPlainPath(rewrite, path, issues)
  }
}

function tryUrl (text: string): URL | undefined {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
