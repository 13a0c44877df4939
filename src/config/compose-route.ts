/**
 * The compose route kind, keyed by `get:`: one gateway path whose answer is one JSON document
 * assembled from several services (docs/compose.md).
 *
 * Everything about this kind's configuration lives here: its schema branch (used by
 * ./schema.ts), its cross-checks (called by ./cross-check.ts) and its normaliser (called by
 * ./load.ts). The runtime (template expansion, plan, executor, shaping) is src/compose/.
 *
 * What `junction check` can know statically, it checks: services, part names and references
 * (did-you-mean), placeholder syntax, route params, cycles (spelled out), shape paths that
 * cannot address anything. Fields of part bodies are only known at runtime: a missing one
 * fails that part ("unresolvable placeholder"), see docs/compose.md.
 *
 * Like the rest of the cross-checks, the checks here run on documents that may be malformed
 * anywhere: every access is guarded, wrong types are the validator's to report.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath, didYouMean, quoteList } from './config-error.js'
import { checkPlainPath, checkRoutePath } from './route-path.js'
import { isForwardingHeader, isInternalHeader } from '../upstream/headers.js'
import { checkServiceReference } from './service-reference.js'
import { ROUTE_PROTECTION_PROPERTIES } from './route-protection.js'
import { checkDuration, checkSize, parseDuration, parseSize } from './cross-check.js'
import type { HttpMethod } from './types.js'
import { CacheBlockSchema, normaliseCacheBlock, type CacheRouteConfig } from './cache-block.js'
import { planOrder, formatCycle } from '../compose/graph.js'
import {
  parseTemplate, placeholders, eachPlaceholder, RESERVED_PART_NAMES, REQUEST_SOURCES, type Template
} from '../compose/template.js'

export const COMPOSE_KEYS = ['get'] as const

/** Defaults of part settings (stated in the schema descriptions and docs/compose.md). */
export const COMPOSE_DEFAULTS = {
  maxBodySize: 1024 * 1024,
  maxConcurrency: 8,
  maxCalls: 100
} as const

const NonEmptyString = (description: string) => Type.String({ minLength: 1, description })

function duration (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.`,
    examples: ['300ms', '2s']
  })
}

function size (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A size: a string with a unit ("512kb", "1mb") or an integer of bytes.`,
    examples: ['512kb', '1mb']
  })
}

const ComposePartSchema = Type.Object({
  service: NonEmptyString('Name of the service (a key under "services") this part calls.'),
  path: NonEmptyString('Path and query toward the service, with placeholders: {params.<name>}, {query.<name>}, {headers.<name>}, {<part>.<field>} (runs after that part) or {each <part>.<field>} (a collection: one call per value found). Values are URL-encoded.'),
  optional: Type.Optional(Type.Boolean({ description: 'true: when this part fails, answer 200 without it (null, or absent when merged) and name it in the Junction-Partial header. Default false: its failure fails the response with 502/504.' })),
  timeout: Type.Optional(duration('Deadline of each call of this part, headers and body. Default: the service\'s timeout.')),
  maxBodySize: Type.Optional(size('Largest response body accepted from one call of this part; larger is a failure of the part. Default 1mb.')),
  as: Type.Optional(NonEmptyString('Collection parts only: the key each result is set under, beside the value it was fetched for. Default: the part\'s name.')),
  maxConcurrency: Type.Optional(Type.Integer({ minimum: 1, description: 'Collection parts only: calls in flight at once. Default 8.' })),
  maxCalls: Type.Optional(Type.Integer({ minimum: 1, description: 'Collection parts only: the most distinct calls one request may make; more fails the part. Default 100.' }))
}, { additionalProperties: false, description: 'One part of a composed response: a GET to a service whose JSON body becomes a field of the answer.' })

const pathList = (description: string) => Type.Optional(Type.Array(NonEmptyString('A dotted path from the root of the document, e.g. user.name; arrays on the way are walked.'), {
  minItems: 1,
  uniqueItems: true,
  description
}))

const ShapeSchema = Type.Object({
  merge: Type.Optional(Type.Array(NonEmptyString('A part name.'), {
    minItems: 1,
    uniqueItems: true,
    description: 'Parts whose body (a JSON object) is merged into the root instead of nested under the part\'s name. On a key collision a later merged part wins, and a nested part\'s name wins over any merged key.'
  })),
  pick: pathList('Keep only these paths, e.g. [user.id, user.name, orders]. Applied first.'),
  omit: pathList('Drop these paths, e.g. [user.email]. Applied after pick.'),
  rename: Type.Optional(Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string', minLength: 1, description: 'The new dotted path from the root.' },
    description: 'Move a value: { <path>: <new path> }, both dotted paths from the root, e.g. { user.name: displayName }. Applied last; overwrites what is at the new path.'
  }))
}, { additionalProperties: false, description: 'How the parts become one document: merge, then pick, omit, rename. Default: each part nested under its name.' })

export const ComposeRouteSchema = Type.Object({
  get: NonEmptyString('A compose route: the gateway path answering GET (and HEAD), with ":name" path parameters, e.g. /api/users/:id/profile. The answer is one JSON document composed from the parts under "compose".'),
  compose: Type.Unsafe<Record<string, Static<typeof ComposePartSchema>>>({
    type: 'object',
    additionalProperties: ComposePartSchema,
    description: 'The parts, by name (letters, digits and "_", starting with a letter). Parts without dependencies run concurrently; a part whose path reads another part\'s field runs after it.'
  }),
  shape: Type.Optional(ShapeSchema),
  forwardHeaders: Type.Optional(Type.Array(NonEmptyString('A header name, e.g. authorization.'), {
    uniqueItems: true,
    description: 'Client headers sent on to every part, e.g. [authorization, accept-language]. Nothing else of the client\'s request is forwarded (x-request-id and traceparent/tracestate always are). Default: none.'
  })),
  cache: Type.Optional(CacheBlockSchema),
  ...ROUTE_PROTECTION_PROPERTIES
}, { additionalProperties: false, description: 'A compose route: one JSON answer assembled from several services.' })

export type RawComposeRoute = Static<typeof ComposeRouteSchema>

/** One part after the config pipeline. */
export interface ComposePartConfig {
  readonly name: string
  readonly service: string
  /** Template, e.g. `/companies/{user.companyId}` (./src/compose/template.ts). */
  readonly path: string
  readonly optional: boolean
  /** Deadline of one call; undefined: the service's timeout. */
  readonly timeoutMs: number | undefined
  readonly maxBodySize: number
  /** Collection parts: the key results are set under beside their values. */
  readonly as: string
  readonly maxConcurrency: number
  readonly maxCalls: number
}

/** A compose route after the config pipeline. */
export interface ComposeRouteConfig {
  readonly kind: 'compose'
  /** Index in the file's `routes` array, so runtime errors can point at the config. */
  readonly index: number
  /** Gateway path with `:params`, e.g. `/api/users/:id/profile`. */
  readonly path: string
  readonly methods: readonly HttpMethod[]
  /** In declaration order. */
  readonly parts: readonly ComposePartConfig[]
  readonly shape: {
    readonly merge: readonly string[]
    /** undefined: keep everything. */
    readonly pick: readonly string[] | undefined
    readonly omit: readonly string[]
    readonly rename: ReadonlyArray<readonly [from: string, to: string]>
  }
  /** Lower-case header names. */
  readonly forwardHeaders: readonly string[]
  /** The route's `cache:` block; absent: answers are not cached. */
  readonly cache?: CacheRouteConfig
}

/** Whether a raw route is of this kind. */
export function isComposeRoute (route: unknown): route is Record<string, unknown> {
  return isObject(route) && Object.hasOwn(route, 'get')
}

// ---- cross-checks -----------------------------------------------------------------

const PART_NAME = /^[A-Za-z][A-Za-z0-9_]*$/
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
/** Headers that describe one connection or one message, not the client's request: never forwarded. */
const UNFORWARDABLE = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host', 'content-length', 'content-type', 'if-none-match', 'if-match',
  'if-modified-since', 'if-unmodified-since', 'range'])
/** Collection settings, meaningless on a part without {each ...}. */
const COLLECTION_KEYS = ['as', 'maxConcurrency', 'maxCalls'] as const

interface PartInfo {
  readonly name: string
  readonly optional: boolean
  readonly template: Template | undefined
  readonly collection: boolean
}

/**
 * Checks every compose route. `routes` is the whole (possibly malformed) list: proxy routes
 * are read too, for paths both would answer GET on.
 */
export function checkComposeRoutes (routes: unknown, serviceNames: readonly string[], reserved: readonly string[], issues: ConfigIssue[]): void {
  if (!Array.isArray(routes)) return
  /** Normalised path (params as ":") → index of the first compose route using it. */
  const seen = new Map<string, number>()
  routes.forEach((route: unknown, index) => {
    if (!isComposeRoute(route)) return
    const at = (...more: PathSegment[]): PathSegment[] => ['routes', index, ...more]
    let params: string[] | undefined
    if (typeof route.get === 'string' && route.get !== '') {
      params = checkGetPath(route.get, at('get'), reserved, issues)
      if (params !== undefined) checkDuplicatePath(route.get, index, routes, seen, issues)
    }
    const parts = isObject(route.compose) ? checkParts(route.compose, params, serviceNames, at, issues) : []
    if (isObject(route.shape)) checkShape(route.shape, parts, at('shape'), issues)
    if (Array.isArray(route.forwardHeaders)) {
      route.forwardHeaders.forEach((name: unknown, i) => {
        if (typeof name !== 'string' || name === '') return
        const where = formatPath(at('forwardHeaders', i))
        if (!HEADER_NAME.test(name)) {
          issues.push({ path: where, message: `${JSON.stringify(name)} is not a header name; write the name only, e.g. "authorization"` })
        } else if (UNFORWARDABLE.has(name.toLowerCase())) {
          issues.push({ path: where, message: `${JSON.stringify(name)} cannot be forwarded to parts: it describes the client's connection or message, not its request` })
        } else if (isInternalHeader(name.toLowerCase())) {
          issues.push({ path: where, message: `${JSON.stringify(name)} cannot be forwarded to parts: only Junction may send it to a service, never a client (docs/hygiene.md)` })
        } else if (isForwardingHeader(name.toLowerCase())) {
          issues.push({ path: where, message: `${JSON.stringify(name)} cannot be forwarded to parts: it is a claim about the client that Junction does not pass on from clients (docs/hygiene.md)` })
        }
      })
    }
  })
}

/** Returns the route's param names when the path is well-formed. */
function checkGetPath (path: string, at: PathSegment[], reserved: readonly string[], issues: ConfigIssue[]): string[] | undefined {
  return checkRoutePath(path, at, reserved, issues, '/api/users/:id/profile')
}

/** Same path twice (param names aside), or a proxy route answering GET at exactly this path. */
function checkDuplicatePath (path: string, index: number, routes: readonly unknown[], seen: Map<string, number>, issues: ConfigIssue[]): void {
  const key = routeKey(path)
  const first = seen.get(key)
  if (first !== undefined) {
    issues.push({ path: formatPath(['routes', index, 'get']), message: `GET ${JSON.stringify(path)} is already composed by routes[${first}]; a path (parameter names aside) can have one compose route` })
    return
  }
  seen.set(key, index)
  const proxy = routes.findIndex((other, i) => i !== index && isObject(other) && typeof other.proxy === 'string' && routeKey(other.proxy) === key &&
    (!Array.isArray(other.methods) || other.methods.includes('GET') || other.methods.includes('HEAD')))
  if (proxy !== -1) {
    issues.push({ path: formatPath(['routes', index, 'get']), message: `GET ${JSON.stringify(path)} is also answered by the proxy route routes[${proxy}]; compose under another path, or leave GET and HEAD out of that route's methods` })
  }
}

function routeKey (path: string): string {
  return path.replace(/(.)\/+$/, '$1').split('/').map(s => s.startsWith(':') ? ':' : s).join('/')
}

function checkParts (compose: Record<string, unknown>, params: readonly string[] | undefined, serviceNames: readonly string[],
  at: (...more: PathSegment[]) => PathSegment[], issues: ConfigIssue[]): PartInfo[] {
  const names = Object.keys(compose)
  if (names.length === 0) {
    issues.push({ path: formatPath(at('compose')), message: 'has no parts; add one, e.g. user: { service: users, path: /users/{params.id} }' })
    return []
  }
  const parts: PartInfo[] = []
  for (const name of names) {
    const where = at('compose', name)
    if (!PART_NAME.test(name)) {
      issues.push({ path: formatPath(where), message: 'invalid part name; use letters, digits and "_", starting with a letter: placeholders name parts as {<part>.<field>}' })
    } else if (RESERVED_PART_NAMES.includes(name)) {
      issues.push({ path: formatPath(where), message: `${JSON.stringify(name)} cannot name a part: ${name === 'each' ? '{each …} starts a collection placeholder' : `{${name}.…} reads the client's request`}; choose another name` })
    }
    const part = compose[name]
    if (!isObject(part)) continue
    checkServiceReference(part.service, serviceNames, [...where, 'service'], issues)
    checkDuration(part.timeout, [...where, 'timeout'], issues)
    checkSize(part.maxBodySize, [...where, 'maxBodySize'], issues)
    let template: Template | undefined
    if (typeof part.path === 'string' && part.path !== '') {
      if (!part.path.startsWith('/')) {
        issues.push({ path: formatPath([...where, 'path']), message: `must start with "/" (found ${JSON.stringify(part.path)}); write ${JSON.stringify('/' + part.path)}` })
      } else if (part.path.includes('#')) {
        issues.push({ path: formatPath([...where, 'path']), message: `must not contain "#" (found ${JSON.stringify(part.path)}): a fragment is never sent to a service` })
      } else if (checkPlainPath(part.path, [...where, 'path'], issues)) {
        const parsed = parseTemplate(part.path)
        if (parsed.ok) template = parsed.template
        else issues.push({ path: formatPath([...where, 'path']), message: parsed.message })
      }
    }
    const collection = template !== undefined && eachPlaceholder(template) !== undefined
    if (template !== undefined && !collection) {
      for (const key of COLLECTION_KEYS) {
        if (part[key] !== undefined) {
          issues.push({ path: formatPath([...where, key]), message: 'applies to collection parts only (a path with {each <part>.<field>}); remove it, or make the path a collection' })
        }
      }
    }
    if (typeof part.as === 'string' && part.as !== '' && !/^[A-Za-z0-9_$-]+$/.test(part.as)) {
      issues.push({ path: formatPath([...where, 'as']), message: `${JSON.stringify(part.as)} is not a field name; use letters, digits, "_", "-" and "$"` })
    }
    parts.push({ name, optional: part.optional === true || part.optional === 'true', template, collection })
  }
  checkReferences(parts, params, at, issues)
  return parts
}

/** Route params, part references, what a part may depend on, and cycles. */
function checkReferences (parts: readonly PartInfo[], params: readonly string[] | undefined, at: (...more: PathSegment[]) => PathSegment[], issues: ConfigIssue[]): void {
  const byName = new Map(parts.map(part => [part.name, part]))
  const partNames = parts.map(part => part.name)
  const graph: Array<{ name: string, deps: string[] }> = []
  for (const part of parts) {
    if (part.template === undefined) continue
    const where = formatPath(at('compose', part.name, 'path'))
    const deps: string[] = []
    for (const p of placeholders(part.template)) {
      if (p.source === 'params') {
        if (params !== undefined && !params.includes(p.name)) {
          const suggestion = didYouMean(p.name, params)
          issues.push({
            path: where,
            message: `${p.text}: the route path has no parameter ":${p.name}"` + (suggestion !== undefined
              ? ` (did you mean {params.${suggestion}}?)`
              : params.length === 0 ? '; it has no parameters' : `; it has ${quoteList(params.map(n => `:${n}`))}`)
          })
        }
        continue
      }
      if (p.source !== 'part') continue
      const target = byName.get(p.part)
      if (target === undefined) {
        const suggestion = didYouMean(p.part, [...partNames, ...REQUEST_SOURCES])
        issues.push({
          path: where,
          message: `${p.text}: no part is named ${JSON.stringify(p.part)}` + (suggestion !== undefined
            ? ` (did you mean "${suggestion}"?)`
            : `; the parts are ${quoteList(partNames)}, and {params.…}, {query.…}, {headers.…} read the request`)
        })
        continue
      }
      if (target.collection && target !== part) {
        issues.push({ path: where, message: `${p.text}: part ${JSON.stringify(p.part)} is a collection; its results are placed inside the part it iterates over, so no part can read it` })
        continue
      }
      if (target.optional && !part.optional && target !== part) {
        issues.push({ path: where, message: `${p.text}: part ${JSON.stringify(part.name)} is required but reads the optional part ${JSON.stringify(p.part)}, and is skipped whenever that one fails; mark ${JSON.stringify(part.name)} optional: true as well, or make ${JSON.stringify(p.part)} required` })
      }
      if (!deps.includes(p.part)) deps.push(p.part)
    }
    graph.push({ name: part.name, deps })
  }
  const plan = planOrder(graph)
  if (!plan.ok) {
    issues.push({ path: formatPath(at('compose')), message: `parts read each other in a cycle: ${formatCycle(plan.cycle)}; no order can run them. A part may read only parts that do not read it back` })
  }
}

/** merge names parts; pick/omit/rename paths must be able to address something. */
function checkShape (shape: Record<string, unknown>, parts: readonly PartInfo[], at: PathSegment[], issues: ConfigIssue[]): void {
  const partNames = parts.map(part => part.name)
  const merged: string[] = []
  if (Array.isArray(shape.merge)) {
    shape.merge.forEach((name: unknown, i) => {
      if (typeof name !== 'string' || name === '') return
      const part = parts.find(p => p.name === name)
      if (part === undefined) {
        const suggestion = didYouMean(name, partNames)
        issues.push({ path: formatPath([...at, 'merge', i]), message: `no part is named ${JSON.stringify(name)}` + (suggestion === undefined ? `; the parts are ${quoteList(partNames)}` : ` (did you mean "${suggestion}"?)`) })
      } else if (part.collection) {
        issues.push({ path: formatPath([...at, 'merge', i]), message: `part ${JSON.stringify(name)} is a collection: its results are placed inside the part it iterates over, not at the root` })
      } else {
        merged.push(name)
      }
    })
  }
  const nested = parts.filter(p => !p.collection && !merged.includes(p.name)).map(p => p.name)
  const collections = parts.filter(p => p.collection).map(p => p.name)
  const checkPath = (path: unknown, where: PathSegment[]): void => {
    if (typeof path !== 'string' || path === '') return
    if (path.split('.').some(s => s === '')) {
      issues.push({ path: formatPath(where), message: `${JSON.stringify(path)} is not a dotted path; write e.g. "user.name"` })
      return
    }
    const head = path.split('.')[0] as string
    if (nested.includes(head)) return
    if (merged.includes(head)) {
      const rest = path.slice(head.length + 1)
      issues.push({ path: formatPath(where), message: `part ${JSON.stringify(head)} is merged into the root, so its fields have no ${JSON.stringify(head + '.')} prefix` + (rest === '' ? '' : `; write ${JSON.stringify(rest)}`) })
      return
    }
    if (collections.includes(head)) {
      issues.push({ path: formatPath(where), message: `part ${JSON.stringify(head)} is a collection: its results are inside the part it iterates over; address them through that part` })
      return
    }
    // A merged part brings keys only known at runtime: any other root key may be one of them.
    if (merged.length > 0) return
    const suggestion = didYouMean(head, nested)
    issues.push({ path: formatPath(where), message: `${JSON.stringify(path)} starts with no part name` + (suggestion === undefined ? `; the document's root keys are the parts ${quoteList(nested)}` : ` (did you mean "${suggestion}"?)`) })
  }
  for (const key of ['pick', 'omit'] as const) {
    const list = shape[key]
    if (Array.isArray(list)) list.forEach((path: unknown, i) => checkPath(path, [...at, key, i]))
  }
  if (isObject(shape.rename)) {
    for (const [from, to] of Object.entries(shape.rename)) {
      checkPath(from, [...at, 'rename', from])
      if (typeof to === 'string' && to !== '' && to.split('.').some(s => s === '')) {
        issues.push({ path: formatPath([...at, 'rename', from]), message: `${JSON.stringify(to)} is not a dotted path; write e.g. "displayName" or "user.displayName"` })
      }
    }
  }
}

// ---- normaliser -------------------------------------------------------------------

/** A validated, cross-checked raw compose route → ComposeRouteConfig. */
export function normaliseComposeRoute (route: RawComposeRoute, index: number): ComposeRouteConfig {
  const parts = Object.entries(route.compose).map(([name, part]): ComposePartConfig => ({
    name,
    service: part.service,
    path: part.path,
    optional: part.optional ?? false,
    timeoutMs: part.timeout === undefined ? undefined : checked(parseDuration(part.timeout), part.timeout),
    maxBodySize: part.maxBodySize === undefined ? COMPOSE_DEFAULTS.maxBodySize : checked(parseSize(part.maxBodySize), part.maxBodySize),
    as: part.as ?? name,
    maxConcurrency: part.maxConcurrency ?? COMPOSE_DEFAULTS.maxConcurrency,
    maxCalls: part.maxCalls ?? COMPOSE_DEFAULTS.maxCalls
  }))
  return {
    kind: 'compose',
    index,
    // '/a/:id/' and '/a/:id' are one route; keep one spelling ('/' stays '/').
    path: route.get.replace(/(.)\/+$/, '$1'),
    methods: ['GET', 'HEAD'],
    parts,
    shape: {
      merge: [...(route.shape?.merge ?? [])],
      pick: route.shape?.pick === undefined ? undefined : [...route.shape.pick],
      omit: [...(route.shape?.omit ?? [])],
      rename: Object.entries(route.shape?.rename ?? {}).map(([from, to]) => [from, to] as const)
    },
    forwardHeaders: (route.forwardHeaders ?? []).map(name => name.toLowerCase()),
    ...(route.cache === undefined ? {} : { cache: normaliseCacheBlock(route.cache) })
  }
}

// Values reaching the normaliser passed cross-check; failing here is a bug in this module, not in the config.
function checked (parsed: number | undefined, raw: unknown): number {
  if (parsed === undefined) throw new Error(`internal: unchecked value ${JSON.stringify(raw)}`)
  return parsed
}

/**
 * Route table rows: the route and its first part, then one `+` row per further part.
 *   GET,HEAD  /api/users/:id/profile  →  users    /users/{params.id}          [user]
 *                                     +  orders   /orders?userId={params.id}  [orders, optional]
 */
export function composeRouteRows (route: ComposeRouteConfig, services: Readonly<Record<string, { readonly urls: readonly string[] }>>): string[][] {
  return route.parts.map((part, i) => [
    i === 0 ? route.methods.join(',') : '',
    i === 0 ? route.path : '',
    i === 0 ? '→' : '+',
    part.service,
    `${part.path}  [${part.name}${part.optional ? ', optional' : ''}]`,
    services[part.service]?.urls.join(', ') ?? '(unknown service)'
  ])
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
