/**
 * The `cache:` block of proxy and compose routes, a proxy route's `invalidate:` list and the
 * top-level `cache:` settings (docs/cache.md). Everything about their configuration lives
 * here: schema pieces (used by ./schema.ts and ./compose-route.ts), cross-checks (called by
 * ./cross-check.ts) and normalisers (called by ./load.ts and ./compose-route.ts). The
 * runtime is src/cache/.
 *
 * Tag templates use the placeholder grammar of src/compose/template.ts. What a placeholder
 * may read depends on the route kind:
 * - compose routes: `{params.<name>}` (a parameter of the `get:` path) and
 *   `{<part>.<field>}` / `{each <part>.<field>}` (a field of a part's body, known once
 *   the parts have answered);
 * - proxy routes have no parameters and no parts: `{response.<field>}` /
 *   `{each response.<field>}` read the upstream's JSON body (the URI is tagged anyway);
 * - a proxy route's `invalidate` tags are literal: a write's body is streamed, never read.
 *
 * Like the rest of the cross-checks, the checks here run on documents that may be
 * malformed anywhere: every access is guarded, wrong types are the validator's to report.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath, didYouMean, quoteList } from './config-error.js'
import { checkDuration, checkSize, parseDuration, parseSize } from './cross-check.js'
import { eachPlaceholder, parseTemplate, placeholders, type Template } from '../compose/template.js'

/** Defaults of the top-level `cache:` settings (ResponseCache's own defaults). */
export const CACHE_DEFAULTS = {
  l1MaxBytes: 64 * 1024 * 1024,
  maxEntryBytes: 1024 * 1024,
  /** The cross-instance fill lock (`cache.lock` of a route). */
  lockTtlMs: 5000,
  lockWaitMs: 3000
} as const

/** The part name proxy-route tags read the upstream's JSON body through. */
export const RESPONSE_SOURCE = 'response'

const NonEmptyString = (description: string) => Type.String({ minLength: 1, description })

function duration (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.`,
    examples: ['30s', '5m']
  })
}

function size (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A size: a string with a unit ("512kb", "1mb") or an integer of bytes.`,
    examples: ['1mb', '64mb']
  })
}

export const CACHE_MODES = ['ttl', 'http'] as const

export const CacheBlockSchema = Type.Object({
  ttl: Type.Optional(duration('How long a response stays fresh (mode ttl; required there).')),
  staleWhileRevalidate: Type.Optional(duration('After ttl, how long the stale response is still served while one background request refreshes it. Default: none.')),
  staleIfError: Type.Optional(duration('After ttl, how long the stale response is served when the service fails (error, 500/502/503/504). Default: none.')),
  mode: Type.Optional(Type.Unsafe<'ttl' | 'http'>({ type: 'string', enum: [...CACHE_MODES], description: '"ttl": the route\'s ttl decides freshness and the service\'s Cache-Control timing is ignored; "http": the service\'s Cache-Control (s-maxage, max-age) or Expires decides, and responses without either are not cached. The never-cache rules (no-store, private, Set-Cookie, Authorization) apply in both. Default ttl.' })),
  statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599, description: 'An HTTP status.' }), {
    minItems: 1,
    uniqueItems: true,
    description: 'Statuses cached besides 2xx (206 excluded), e.g. [404]. 3xx and 4xx only.'
  })),
  incompleteTtl: Type.Optional(duration('Compose routes: how long an answer missing an optional part is cached (never served stale). Default: not cached.')),
  key: Type.Optional(Type.Object({
    query: Type.Optional(Type.Array(NonEmptyString('A query parameter name.'), { uniqueItems: true, description: 'Query parameters that select the cached variant, e.g. [page, sort]; [] for none. Default: all of them.' })),
    headers: Type.Optional(Type.Array(NonEmptyString('A request header name.'), { uniqueItems: true, description: 'Request headers that select the cached variant, e.g. [accept-language]; also the headers a response may Vary on. Default: none.' })),
    identity: Type.Optional(NonEmptyString('A request header naming the caller, e.g. authorization or x-user-id (set by a trusted front): its value is part of the key, so answers to requests carrying it are cached per caller despite Authorization. Default: none (requests with Authorization are cached only when the response is public).'))
  }, { additionalProperties: false, description: 'What the cache key is made of besides the route, method and path.' })),
  lock: Type.Optional(Type.Object({
    ttl: Type.Optional(duration('How long the instance filling a key holds the cross-instance lock at most; it is released when the fill ends, this only frees it after a crash. Keep it above the service\'s usual answer time. Default 5s.')),
    wait: Type.Optional(duration('How long a request waits for another instance\'s fill of the same key before calling the service itself. Default 3s.'))
  }, { additionalProperties: false, description: 'The lock that makes concurrent misses on several instances one call to the service (docs/cache.md#coalescing).' })),
  tags: Type.Optional(Type.Array(NonEmptyString('A tag template, e.g. user:{params.id} or company:{company.id} (compose routes), product:{response.id} (proxy routes).'), {
    uniqueItems: true,
    description: 'Tags of every cached answer; a write route listing one in write.invalidate (or an admin purge) drops the answers carrying it. Every answer is also tagged route:<path> and uri:<request path>.'
  }))
}, { additionalProperties: false, description: 'Cache this route\'s GET/HEAD answers (docs/cache.md).' })

export const ProxyInvalidateSchema = Type.Array(NonEmptyString('A literal cache tag, e.g. products:list.'), {
  minItems: 1,
  uniqueItems: true,
  description: 'Cache tags a 2xx answer to POST/PUT/PATCH/DELETE on this route invalidates (literal: the body is streamed, never read). The request\'s own URI is invalidated in any case when the route has a cache block or this list.'
})

export const CacheSettingsSchema = Type.Object({
  l1MaxBytes: Type.Optional(size('Memory for the in-process cache tier (bodies plus headers). Default 64mb.')),
  maxEntryBytes: Type.Optional(size('Largest response body cached; larger ones are streamed through uncached (X-Cache: BYPASS). Default 1mb.'))
}, { additionalProperties: false, description: 'Instance-wide settings of the response cache. Every key is optional.' })

export type RawCacheBlock = Static<typeof CacheBlockSchema>
export type RawCacheSettings = Static<typeof CacheSettingsSchema>

/** A route's `cache:` block after the config pipeline. */
export interface CacheRouteConfig {
  readonly mode: 'ttl' | 'http'
  /** Mode ttl: freshness; mode http: 0 (unused). */
  readonly ttlMs: number
  readonly staleWhileRevalidateMs: number
  readonly staleIfErrorMs: number
  /** Statuses cached besides 2xx. */
  readonly statuses: readonly number[]
  /** 0: incomplete composed answers are not cached. */
  readonly incompleteTtlMs: number
  readonly key: {
    /** undefined: every query parameter. */
    readonly query: readonly string[] | undefined
    /** Lower-case names. */
    readonly headers: readonly string[]
    /** Lower-case header name, or undefined. */
    readonly identity: string | undefined
  }
  /** Tag templates (src/compose/template.ts grammar). */
  readonly tags: readonly string[]
  /** The cross-instance fill lock. */
  readonly lock: { readonly ttlMs: number, readonly waitMs: number }
}

export interface CacheSettings {
  readonly l1MaxBytes: number
  readonly maxEntryBytes: number
}

// ---- cross-checks -----------------------------------------------------------------

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
/** What a compose route's tags may read (its parameters and its parts). */
interface ComposeSources { readonly kind: 'compose', readonly params: readonly string[] | undefined, readonly parts: ReadonlyMap<string, { collection: boolean }> }
type TagSources = ComposeSources | { readonly kind: 'proxy' }

/** Checks the top-level `cache:` settings. */
export function checkCacheSettings (settings: unknown, issues: ConfigIssue[]): void {
  if (!isObject(settings)) return
  checkSize(settings.l1MaxBytes, ['cache', 'l1MaxBytes'], issues)
  checkSize(settings.maxEntryBytes, ['cache', 'maxEntryBytes'], issues)
}

/** Checks the cache blocks of every proxy and compose route, and proxy routes' `invalidate`. */
export function checkCacheBlocks (routes: unknown, issues: ConfigIssue[]): void {
  if (!Array.isArray(routes)) return
  routes.forEach((route: unknown, index) => {
    if (!isObject(route)) return
    const at = (...more: PathSegment[]): PathSegment[] => ['routes', index, ...more]
    if (Object.hasOwn(route, 'proxy')) {
      if (isObject(route.cache)) {
        const methods = Array.isArray(route.methods) ? route.methods : undefined
        if (methods !== undefined && !methods.includes('GET') && !methods.includes('HEAD')) {
          issues.push({ path: formatPath(at('cache')), message: 'this route accepts neither GET nor HEAD, so it has nothing to cache; remove the block or add GET to methods' })
        }
        checkBlock(route.cache, { kind: 'proxy' }, at('cache'), issues)
      }
      if (Array.isArray(route.invalidate)) {
        route.invalidate.forEach((tag: unknown, i) => {
          if (typeof tag === 'string' && /[{}]/.test(tag)) {
            issues.push({ path: formatPath(at('invalidate', i)), message: `${JSON.stringify(tag)} has a placeholder; a proxy route's invalidate tags are literal (its request body is streamed, never read), and the request's URI is invalidated automatically` })
          }
        })
      }
    } else if (Object.hasOwn(route, 'get') && isObject(route.cache)) {
      checkBlock(route.cache, composeSources(route), at('cache'), issues)
    }
  })
}

function composeSources (route: Record<string, unknown>): ComposeSources {
  // A malformed path is reported by the compose checks; its params are then unknown.
  const params = typeof route.get === 'string' && route.get.startsWith('/') && !/[?#*{}]/.test(route.get)
    ? route.get.split('/').filter(s => s.startsWith(':')).map(s => s.slice(1))
    : undefined
  const parts = new Map<string, { collection: boolean }>()
  if (isObject(route.compose)) {
    for (const [name, part] of Object.entries(route.compose)) {
      const parsed = isObject(part) && typeof part.path === 'string' ? parseTemplate(part.path) : undefined
      parts.set(name, { collection: parsed?.ok === true && eachPlaceholder(parsed.template) !== undefined })
    }
  }
  return { kind: 'compose', params, parts }
}

function checkBlock (block: Record<string, unknown>, sources: TagSources, at: PathSegment[], issues: ConfigIssue[]): void {
  const where = (...more: PathSegment[]): string => formatPath([...at, ...more])
  for (const key of ['ttl', 'staleWhileRevalidate', 'staleIfError', 'incompleteTtl'] as const) checkDuration(block[key], [...at, key], issues)
  if (isObject(block.lock)) for (const key of ['ttl', 'wait'] as const) checkDuration(block.lock[key], [...at, 'lock', key], issues)
  const mode = block.mode ?? 'ttl'
  if (mode === 'ttl' && block.ttl === undefined) {
    issues.push({ path: where('ttl'), message: 'required with mode: ttl (the default); e.g. ttl: 30s, or mode: http to follow the service\'s Cache-Control' })
  } else if (mode === 'http' && block.ttl !== undefined) {
    issues.push({ path: where('ttl'), message: 'has no effect with mode: http (the service\'s Cache-Control or Expires decides freshness); remove it, or use mode: ttl' })
  }
  if (sources.kind === 'proxy' && block.incompleteTtl !== undefined) {
    issues.push({ path: where('incompleteTtl'), message: 'only compose routes have incomplete answers (an optional part missing); remove it' })
  }
  if (Array.isArray(block.statuses)) {
    block.statuses.forEach((status: unknown, i) => {
      if (typeof status !== 'number') return
      if (status === 206 || status < 200 || status >= 500) {
        issues.push({ path: where('statuses', i), message: `${status} cannot be cached: ${status === 206 ? 'a partial (Range) answer is not the whole representation' : status >= 500 ? 'a server error is never kept (staleIfError serves the last good answer instead)' : 'an interim answer is not a response'}; list 3xx or 4xx statuses` })
      }
    })
  }
  if (isObject(block.key)) {
    const names = (key: 'headers' | 'identity', list: unknown[]): void => list.forEach((name: unknown, i) => {
      if (typeof name === 'string' && name !== '' && !HEADER_NAME.test(name)) {
        issues.push({ path: key === 'identity' ? where('key', 'identity') : where('key', key, i), message: `${JSON.stringify(name)} is not a header name; write the name only, e.g. "accept-language"` })
      }
    })
    if (Array.isArray(block.key.headers)) names('headers', block.key.headers)
    if (block.key.identity !== undefined) names('identity', [block.key.identity])
  }
  if (Array.isArray(block.tags)) {
    block.tags.forEach((tag: unknown, i) => {
      if (typeof tag !== 'string' || tag === '') return
      const parsed = parseTemplate(tag)
      if (!parsed.ok) {
        issues.push({ path: where('tags', i), message: parsed.message })
        return
      }
      const problem = checkTagSources(parsed.template, sources)
      if (problem !== undefined) issues.push({ path: where('tags', i), message: problem })
    })
  }
}

/** What is wrong with the first placeholder a route cannot fill, or undefined. */
function checkTagSources (template: Template, sources: TagSources): string | undefined {
  for (const p of placeholders(template)) {
    if (sources.kind === 'proxy') {
      if (p.source === 'part' && p.part === RESPONSE_SOURCE) continue
      return `${JSON.stringify(p.text)}: a proxy route's tags read its response only; write {${RESPONSE_SOURCE}.<field>} or {each ${RESPONSE_SOURCE}.<field>} (the request's URI is tagged automatically)`
    }
    if (p.source === 'query' || p.source === 'headers') {
      return `${JSON.stringify(p.text)}: tags are made from route parameters ({params.<name>}) and part fields ({<part>.<field>}) only`
    }
    if (p.source === 'params') {
      if (sources.params === undefined || sources.params.includes(p.name)) continue
      const suggestion = didYouMean(p.name, sources.params)
      return `${p.text} is not a parameter of the route path` + (suggestion !== undefined
        ? ` (did you mean {params.${suggestion}}?)`
        : sources.params.length === 0 ? ' (it has none)' : `; its parameters are ${quoteList(sources.params)}`)
    }
    if (p.source !== 'part') continue
    const part = sources.parts.get(p.part)
    if (part === undefined) {
      const names = [...sources.parts.keys()]
      const suggestion = didYouMean(p.part, names)
      return `${p.text}: no part is named ${JSON.stringify(p.part)}` + (suggestion === undefined ? `; the parts are ${quoteList(names)}` : ` (did you mean "${suggestion}"?)`)
    }
    if (part.collection) {
      return `${p.text}: part ${JSON.stringify(p.part)} is a collection; read its results through the part it iterates over`
    }
  }
  return undefined
}

// ---- normalisers ------------------------------------------------------------------

/** A validated, cross-checked `cache:` block → CacheRouteConfig. */
export function normaliseCacheBlock (block: RawCacheBlock): CacheRouteConfig {
  const ms = (value: string | number | undefined): number => value === undefined ? 0 : checked(parseDuration(value), value)
  const mode = block.mode ?? 'ttl'
  return {
    mode,
    ttlMs: mode === 'ttl' ? ms(block.ttl) : 0,
    staleWhileRevalidateMs: ms(block.staleWhileRevalidate),
    staleIfErrorMs: ms(block.staleIfError),
    statuses: [...(block.statuses ?? [])],
    incompleteTtlMs: ms(block.incompleteTtl),
    key: {
      query: block.key?.query === undefined ? undefined : [...block.key.query],
      headers: [...new Set((block.key?.headers ?? []).map(name => name.toLowerCase()))],
      identity: block.key?.identity?.toLowerCase()
    },
    tags: [...(block.tags ?? [])],
    lock: {
      ttlMs: block.lock?.ttl === undefined ? CACHE_DEFAULTS.lockTtlMs : ms(block.lock.ttl),
      waitMs: block.lock?.wait === undefined ? CACHE_DEFAULTS.lockWaitMs : ms(block.lock.wait)
    }
  }
}

export function normaliseCacheSettings (settings: RawCacheSettings | undefined): CacheSettings {
  return {
    l1MaxBytes: settings?.l1MaxBytes === undefined ? CACHE_DEFAULTS.l1MaxBytes : checked(parseSize(settings.l1MaxBytes), settings.l1MaxBytes),
    maxEntryBytes: settings?.maxEntryBytes === undefined ? CACHE_DEFAULTS.maxEntryBytes : checked(parseSize(settings.maxEntryBytes), settings.maxEntryBytes)
  }
}

// Values reaching the normaliser passed cross-check; failing here is a bug in this module, not in the config.
function checked (parsed: number | undefined, raw: unknown): number {
  if (parsed === undefined) throw new Error(`internal: unchecked value ${JSON.stringify(raw)}`)
  return parsed
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
