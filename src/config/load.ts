/**
 * The config pipeline: file → parse → env substitution and overrides → schema validation →
 * cross-field checks → normalised, deeply frozen GatewayConfig.
 *
 * Every stage after parsing runs even when an earlier one found problems, and all issues
 * are thrown together in one ConfigError: fixing a config should take one round, not one
 * run per mistake. (A syntax error stops at parsing: there is no document to check.)
 */
import { readFile } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import YAML from 'yaml'
import { ConfigError, type ConfigIssue, type PathSegment, ROOT_PATH, formatPath } from './config-error.js'
import { resolveEnv, isAtOrUnder } from './env.js'
import { validateConfig } from './validate.js'
import { crossCheck, parseDuration, parseSize } from './cross-check.js'
import { HTTP_METHODS, type ValidConfig, type RawStore, type RawRoute } from './schema.js'
import type { GatewayConfig, RouteConfig, ServiceConfig, StoreConfig } from './types.js'
import { checkBodySchemas, normaliseWriteRoute } from './write-route.js'
import { checkOutboxKey, normaliseOutboxKey } from './outbox-key.js'
import { normaliseObservability } from './observability-block.js'
import { normaliseComposeRoute } from './compose-route.js'
import { normaliseCacheBlock, normaliseCacheSettings } from './cache-block.js'
import { normaliseCircuitBreaker, normaliseHealthCheck, normaliseOverload, normaliseRetry, normaliseRouteRetry } from './resilience-block.js'
import { resolveWorkers } from './workers.js'
import { checkProtection, normaliseProtection, routeClaimHeaders, type ProtectionConfig } from './route-protection.js'

export interface ParseOptions {
  /** Path of the file the text came from: named in errors, and the base of relative paths (store.dir). */
  source?: string
  /** Default: 'json' when `source` ends in .json, else 'yaml'. */
  format?: 'yaml' | 'json'
  /** Variables for `${VAR}` and the JUNCTION_* overrides. Default: process.env. */
  env?: NodeJS.ProcessEnv
}

/** Reads and resolves a config file. Throws ConfigError for a missing or unreadable file and for every problem in it. */
export async function loadConfig (file: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<GatewayConfig> {
  const path = resolve(file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError([{ path, message: describeReadError(err) }], path)
  }
  return parseConfig(text, { source: path, format: extname(path).toLowerCase() === '.json' ? 'json' : 'yaml', ...opts })
}

/** Resolves config text. Throws one ConfigError listing every problem found. */
export function parseConfig (text: string, opts: ParseOptions = {}): GatewayConfig {
  const source = opts.source === undefined ? undefined : resolve(opts.source)
  const format = opts.format ?? (source !== undefined && extname(source).toLowerCase() === '.json' ? 'json' : 'yaml')
  const label = opts.source ?? 'config'

  const parsed = format === 'json' ? parseJson(text, label) : parseYaml(text, label)
  if (!parsed.ok) throw new ConfigError(parsed.issues, source)
  if (parsed.document === null || parsed.document === undefined) {
    throw new ConfigError([{ path: ROOT_PATH, message: 'the config is empty; it needs at least "services" and "routes" (see docs/config.md)' }], source)
  }

  const env = resolveEnv(parsed.document, opts.env ?? process.env)
  // `env.document` is a fresh copy, so ajv may fill in defaults and coerce in place.
  const doc = env.document
  const validation = validateConfig(doc)
  const baseDir = source === undefined ? process.cwd() : dirname(source)
  const checks = [...crossCheck(doc), ...checkBodySchemas(doc, baseDir), ...checkOutboxKey(doc), ...checkProtection(doc, baseDir)]

  // A value whose variable is missing still holds the raw `${VAR}`; what later stages say about it is noise.
  const envPaths = env.issues.map(issue => issue.path)
  const later = [...(validation.ok ? [] : validation.issues), ...checks]
    .filter(issue => !envPaths.some(path => isAtOrUnder(issue.path, path)))
  const issues = inDocumentOrder([...env.issues, ...later], doc)
  if (issues.length > 0 || !validation.ok) throw new ConfigError(issues, source)

  return deepFreeze(normalise(validation.config, source))
}

/**
 * Sorts issues the way the file reads (stable, so issues at one place keep their stage
 * order): a user fixes them top to bottom. An issue about a key that is not in the file (a
 * missing required key) sorts with its parent.
 */
function inDocumentOrder (issues: ConfigIssue[], doc: unknown): ConfigIssue[] {
  const order = new Map<string, number>()
  const walk = (node: unknown, path: PathSegment[]): void => {
    order.set(formatPath(path), order.size)
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...path, i]))
    else if (typeof node === 'object' && node !== null) for (const [key, value] of Object.entries(node)) walk(value, [...path, key])
  }
  walk(doc, [])
  const rank = (path: string): number => {
    for (let p = path; p !== ''; p = p.replace(/(\.[^.[]+|\[[^\]]*\])$|^[^.[]+$/, '')) {
      const found = order.get(p)
      if (found !== undefined) return found
    }
    return -1
  }
  return issues
    .map((issue, i) => ({ issue, i, rank: rank(issue.path) }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map(entry => entry.issue)
}

type Parsed = { ok: true, document: unknown } | { ok: false, issues: ConfigIssue[] }

function parseYaml (text: string, label: string): Parsed {
  // merge: YAML `<<: *defaults` keys, handy to share service settings. uniqueKeys (default): a key given twice is an error.
  const doc = YAML.parseDocument(text, { prettyErrors: true, merge: true })
  // Only the first syntax error: the parser's later ones nearly always follow from it (one
  // unbalanced brace yields a hundred "unexpected token"s) and would bury it.
  const error = doc.errors[0]
  if (error !== undefined) {
    const pos = error.linePos?.[0]
    // prettyErrors appends " at line L, column C:" and a code frame; the position goes in the path instead.
    const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')
    return { ok: false, issues: [{ path: pos === undefined ? label : `${label}:${pos.line}:${pos.col}`, message: `YAML syntax error: ${message}` }] }
  }
  return { ok: true, document: doc.toJS({ maxAliasCount: 100 }) }
}

function parseJson (text: string, label: string): Parsed {
  try {
    return { ok: true, document: JSON.parse(text.replace(/^\uFEFF/, '')) }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const position = /at position (\d+)/.exec(message)
    const offset = position === null ? text.length : Number(position[1])
    const before = text.slice(0, offset).split('\n')
    const line = before.length
    const col = (before.at(-1)?.length ?? 0) + 1
    const reason = message.replace(/\s*in JSON at position \d+.*$/s, '').replace(/^Unexpected end of JSON input$/, 'unexpected end of input')
    return { ok: false, issues: [{ path: `${label}:${line}:${col}`, message: `JSON syntax error: ${reason}` }] }
  }
}

function describeReadError (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT': return 'cannot read the config file: it does not exist; check the path'
    case 'EACCES':
    case 'EPERM': return 'cannot read the config file: permission denied; make it readable by the user running Junction'
    case 'EISDIR': return 'is a directory; give the path of a YAML or JSON config file'
    default: return `cannot read the config file: ${err instanceof Error ? err.message : String(err)}`
  }
}

/**
 * The validated file format → GatewayConfig: units parsed, derived defaults filled in (those
 * ajv cannot: they depend on other keys or on the file's location), names attached.
 */
function normalise (raw: ValidConfig, source: string | undefined): GatewayConfig {
  const baseDir = source === undefined ? process.cwd() : dirname(source)
  const bodyLimit = size(raw.server.bodyLimit)

  // Null prototype: a lookup by a route's service name can never hit Object.prototype ("constructor").
  const services: Record<string, ServiceConfig> = Object.create(null)
  for (const [name, service] of Object.entries(raw.services)) {
    services[name] = {
      name,
      // Origins only (cross-check rejected paths): "http://h:3001/" and "http://h:3001" are the same upstream.
      urls: service.urls.map(url => new URL(url).origin),
      timeoutMs: duration(service.timeout),
      connectTimeoutMs: duration(service.connectTimeout),
      connections: service.connections,
      keepAliveTimeoutMs: duration(service.keepAliveTimeout),
      retry: normaliseRetry(service.retry),
      circuitBreaker: normaliseCircuitBreaker(service.circuitBreaker),
      health: normaliseHealthCheck(service.health)
    }
  }

  const protection = normaliseProtection(raw, baseDir)
  return {
    source,
    server: {
      host: raw.server.host,
      port: raw.server.port,
      bodyLimit,
      shutdownTimeoutMs: duration(raw.server.shutdownTimeout),
      trustProxy: raw.server.trustProxy,
      logLevel: raw.server.logLevel,
      overload: normaliseOverload(raw.server.overload),
      maxHeaderSize: size(raw.server.maxHeaderSize),
      maxHeaders: raw.server.maxHeaders,
      headersTimeoutMs: duration(raw.server.headersTimeout),
      requestTimeoutMs: duration(raw.server.requestTimeout),
      keepAliveTimeoutMs: duration(raw.server.keepAliveTimeout),
      workers: resolveWorkers(raw.server.workers)
    },
    store: normaliseStore(raw.store, baseDir),
    // An empty token (e.g. `${ADMIN_TOKEN:-}`) means none: the admin API stays disabled.
    admin: { token: raw.admin.token === undefined || raw.admin.token === '' ? undefined : raw.admin.token },
    services,
    routes: (raw.routes ?? []).map((route, index) => withClaimHeaders(normaliseRoute(route, index, bodyLimit, baseDir), protection)),
    outbox: normaliseOutboxKey(raw.outbox),
    cache: normaliseCacheSettings(raw.cache),
    protection,
    observability: normaliseObservability(raw.observability)
  }
}

/**
 * A compose route sends its parts only the headers it lists; the verified claims its
 * authenticators forward are added to that list, so they reach every part (and, being
 * headers the answer depends on, key its cache entries per caller).
 */
function withClaimHeaders (route: RouteConfig, protection: ProtectionConfig): RouteConfig {
  if (route.kind !== 'compose') return route
  const claims = routeClaimHeaders(protection, route.index).filter(header => !route.forwardHeaders.includes(header))
  return claims.length === 0 ? route : { ...route, forwardHeaders: [...route.forwardHeaders, ...claims] }
}

function normaliseStore (store: RawStore | undefined, baseDir: string): StoreConfig {
  if (store?.kind === 'redis') {
    return {
      kind: 'redis',
      url: store.url,
      prefix: store.prefix ?? 'junction:',
      ...(store.cluster === true ? { cluster: true } : {}),
      // Only when set: tests compare the normalised store of configs that leave it out.
      ...(store.timeout === undefined ? {} : { timeoutMs: duration(store.timeout) })
    }
  }
  return { kind: 'embedded', dir: resolve(baseDir, store?.dir ?? './data'), fsync: store?.fsync ?? 'batch' }
}

/** One branch per route kind; later kinds (get:/put:) add theirs here. */
function normaliseRoute (route: RawRoute, index: number, defaultBodyLimit: number, baseDir: string): RouteConfig {
  if ('get' in route) return normaliseComposeRoute(route, index)
  if (!('proxy' in route)) return normaliseWriteRoute(route, index, route.bodyLimit === undefined ? defaultBodyLimit : size(route.bodyLimit), baseDir)
  const methods = [...(route.methods ?? HTTP_METHODS)]
  return {
    kind: 'proxy',
    index,
    // '/api/' and '/api' match the same requests; keep one spelling ('/' stays '/').
    prefix: route.proxy.replace(/(.)\/+$/, '$1'),
    service: route.service,
    rewrite: route.rewrite ?? route.proxy,
    methods,
    bodyLimit: route.bodyLimit === undefined ? defaultBodyLimit : size(route.bodyLimit),
    ...(route.cache === undefined ? {} : { cache: normaliseCacheBlock(route.cache) }),
    // A route with a cache, or tags to invalidate, invalidates its URI after writes (RFC 9111 §4.4).
    ...(route.cache === undefined && route.invalidate === undefined ? {} : { invalidate: [...(route.invalidate ?? [])] }),
    retryMethods: normaliseRouteRetry(route.retry, methods)
  }
}

// Values reaching the normaliser passed cross-check; failing here is a bug in this module, not in the config.
function duration (value: string | number): number {
  const parsed = parseDuration(value)
  if (parsed === undefined) throw new Error(`internal: unchecked duration ${JSON.stringify(value)}`)
  return parsed
}

function size (value: string | number): number {
  const parsed = parseSize(value)
  if (parsed === undefined) throw new Error(`internal: unchecked size ${JSON.stringify(value)}`)
  return parsed
}

/** Freezes an object graph, so a module holding the config cannot change it for the others. */
export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key])
  }
  return value
}
