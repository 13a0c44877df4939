/**
 * The write route kind, keyed by its method: `put:`, `post:`, `patch:` or `delete:` and a
 * gateway path with `:params`. A write goes to the service that owns the entity and its
 * committed result is propagated to every service keeping a copy (docs/versioning.md).
 *
 * Everything about this kind lives here: its schema branch (used by ./schema.ts), its
 * cross-checks (called by ./cross-check.ts), the loading of `validate.body` schema files
 * (called by ./load.ts, which knows the config file's directory) and its normaliser.
 *
 * Like the rest of the cross-checks, the checks here run on documents that may be
 * malformed anywhere: every access is guarded, wrong types are the validator's to report.
 */
import { readFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import YAML from 'yaml'
import { type ConfigIssue, type PathSegment, formatPath, didYouMean, quoteList } from './config-error.js'
import { checkPlainPath, checkRoutePath } from './route-path.js'
import { checkServiceReference } from './service-reference.js'
import { ROUTE_PROTECTION_PROPERTIES } from './route-protection.js'
import { parseTemplate, placeholdersOf } from '../versioning/template.js'
import type { VersionSource } from '../versioning/version.js'

/** The route keys of this kind, in the order users meet them in docs. */
export const WRITE_KEYS = ['put', 'post', 'patch', 'delete'] as const
export type WriteKey = typeof WRITE_KEYS[number]
export type WriteMethod = 'PUT' | 'POST' | 'PATCH' | 'DELETE'

const NonEmptyString = (description: string) => Type.String({ minLength: 1, description })

function size (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A size: a string with a unit ("512kb", "1mb") or an integer of bytes.`,
    examples: ['512kb', '1mb', '100mb']
  })
}

const routePath = (method: string) => Type.Optional(NonEmptyString(
  `A ${method} write route: the gateway path, with ":name" path parameters, e.g. /api/users/:id. Requests go to write.owner; the committed result is propagated to write.propagate.`))

const OwnerSchema = Type.Object({
  service: NonEmptyString('Name of the service that owns the entity (a key under "services").'),
  path: NonEmptyString('The entity\'s path on the owner, with {params.<name>} placeholders, e.g. /users/{params.id}. For POST: the collection the entity is created in, e.g. /users.'),
  version: Type.Object({
    etag: Type.Optional(Type.Boolean({ description: 'true: the version is the integer in the owner\'s ETag ("7" or W/"7").' })),
    field: Type.Optional(NonEmptyString('The version is this integer field of the owner\'s JSON body, e.g. version.'))
  }, { additionalProperties: false, description: 'Where the owner puts the entity\'s integer version: exactly one of { etag: true } or { field: <name> }.' }),
  idempotencyKey: Type.Optional(Type.Boolean({
    description: 'post: routes only. true: the owner honours the Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): a repeat of a key gets the first answer, nothing is created twice. Junction then sends a key on every POST (the client\'s own, else one of its own), keeps the body with the write\'s intent, and after a crash re-sends the POST with the same key to learn the created id: no created entity goes unpropagated. Default false.'
  }))
}, { additionalProperties: false, description: 'The service that owns the entity: it commits the write and numbers its versions.' })

const PropagateSchema = Type.Object({
  service: NonEmptyString('Name of a service keeping a copy (a key under "services").'),
  path: NonEmptyString('The copy\'s path on that service, with {params.<name>} (or {id} on POST routes) placeholders, e.g. /customers/{params.id}.'),
  pick: Type.Optional(Type.Array(NonEmptyString('A top-level field of the owner\'s representation.'), {
    minItems: 1,
    uniqueItems: true,
    description: 'Send only these top-level fields of the owner\'s representation, e.g. [id, name, email]. Default: the whole representation.'
  })),
  versionHeader: Type.Optional(NonEmptyString('The request header carrying the version to this service, e.g. X-Copy-Version. Clients can never set it (it is removed from every request). Default X-Entity-Version.'))
}, { additionalProperties: false, description: 'A service keeping a copy of the entity: it receives every committed version (PUT, or DELETE for a tombstone) with its version header (default X-Entity-Version).' })

export const WriteSchema = Type.Object({
  owner: OwnerSchema,
  requireIfMatch: Type.Optional(Type.Boolean({ description: 'Refuse writes without If-Match with 428 Precondition Required (lost-update protection). Default false.' })),
  propagate: Type.Optional(Type.Array(PropagateSchema, { description: 'Services keeping a copy of the entity. Default: none.' })),
  invalidate: Type.Optional(Type.Array(NonEmptyString('A cache tag, with {params.<name>} placeholders, e.g. user:{params.id}.'), {
    description: 'Cache tags this write invalidates (with its own URI) after the owner\'s 2xx, before the client\'s answer.'
  }))
}, { additionalProperties: false, description: 'Where the write goes and where its result is propagated.' })

const BodySchemaSchema = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description: 'A JSON Schema the request body must satisfy, inline, or { $ref: <file> } naming a JSON or YAML file relative to the config file. A body failing it gets 400 and never reaches the owner.'
})

export const WriteRouteSchema = Type.Object({
  put: routePath('PUT'),
  post: routePath('POST'),
  patch: routePath('PATCH'),
  delete: routePath('DELETE'),
  write: WriteSchema,
  validate: Type.Optional(Type.Object({
    body: Type.Optional(BodySchemaSchema)
  }, { additionalProperties: false, description: 'Checks on the request before it reaches the owner.' })),
  bodyLimit: Type.Optional(size('Largest request body accepted on this route. Default: server.bodyLimit.')),
  ...ROUTE_PROTECTION_PROPERTIES
}, {
  additionalProperties: false,
  // Exactly one method key: the route union's discriminator reports the wording, this keeps the published schema honest.
  oneOf: WRITE_KEYS.map(key => ({ required: [key], properties: { [key]: { type: 'string' } } })),
  description: 'A write route: writes to the owning service, then propagates the committed version to every copy.'
})

export type RawWriteRoute = Static<typeof WriteRouteSchema>

/** A write route after the config pipeline. */
export interface WriteRouteConfig {
  readonly kind: 'write'
  /** Index in the file's `routes` array, so runtime errors can point at the config. */
  readonly index: number
  readonly method: WriteMethod
  /** Gateway path with `:params`, e.g. `/api/users/:id`. */
  readonly path: string
  readonly owner: {
    readonly service: string
    /** Template, e.g. `/users/{params.id}`. */
    readonly path: string
    readonly version: VersionSource
    /** POST routes: the owner honours Idempotency-Key, so an interrupted POST is re-sent with its key (src/writes/recovery.ts). */
    readonly idempotencyKey: boolean
  }
  readonly requireIfMatch: boolean
  readonly propagate: ReadonlyArray<{
    readonly service: string
    /** Template, e.g. `/customers/{params.id}`. */
    readonly path: string
    readonly pick: readonly string[] | undefined
    /** The header carrying the version; undefined: X-Entity-Version. */
    readonly versionHeader: string | undefined
  }>
  /** Cache tag templates, e.g. `user:{params.id}` (used by the response cache). */
  readonly invalidate: readonly string[]
  /** The JSON Schema of the body (the `$ref` file already read), or undefined. */
  readonly bodySchema: Readonly<Record<string, unknown>> | undefined
  readonly bodyLimit: number
}

/** Whether a raw route is of this kind (has one of the method keys). */
export function isWriteRoute (route: unknown): boolean {
  return isObject(route) && WRITE_KEYS.some(key => Object.hasOwn(route, key))
}

/** The method key a raw write route uses. */
export function writeKeyOf (route: Record<string, unknown>): WriteKey | undefined {
  return WRITE_KEYS.find(key => Object.hasOwn(route, key))
}

// ---- cross-checks -----------------------------------------------------------------

/**
 * Checks every write route: path syntax and reserved paths, services (with did-you-mean),
 * placeholders against the route's params, the version source, one copy per dependent,
 * and the same method and path routed twice.
 */
export function checkWriteRoutes (routes: unknown, serviceNames: readonly string[], reserved: readonly string[], issues: ConfigIssue[]): void {
  if (!Array.isArray(routes)) return
  /** `PUT /api/users/:` (param names erased: Fastify sees one route) → first index. */
  const seen = new Map<string, number>()
  routes.forEach((route: unknown, index) => {
    if (!isObject(route)) return
    const key = writeKeyOf(route)
    if (key === undefined) return
    const at = (...more: PathSegment[]): PathSegment[] => ['routes', index, ...more]
    const path = route[key]
    let params: string[] | undefined
    if (typeof path === 'string' && path !== '') {
      params = checkWritePath(path, at(key), reserved, issues)
      if (params !== undefined) {
        const shape = `${key.toUpperCase()} ${normalisePath(path).replace(/:[^/]+/g, ':')}`
        const first = seen.get(shape)
        if (first === undefined) seen.set(shape, index)
        else issues.push({ path: formatPath(at(key)), message: `${key.toUpperCase()} ${JSON.stringify(path)} is already a write route (routes[${first}]); keep one route per method and path` })
      }
    }
    const write = route.write
    if (!isObject(write)) return
    const ctx: TemplateContext = { params, isPost: key === 'post' }
    if (isObject(write.owner)) {
      checkServiceReference(write.owner.service, serviceNames, at('write', 'owner', 'service'), issues)
      checkPathTemplate(write.owner.path, ctx, at('write', 'owner', 'path'), issues, { allowId: false })
      checkVersion(write.owner.version, at('write', 'owner', 'version'), issues)
      if (write.owner.idempotencyKey === true && key !== 'post') {
        issues.push({ path: formatPath(at('write', 'owner', 'idempotencyKey')), message: `applies to post: routes only (it lets recovery re-send an interrupted POST to learn the id the owner created); a ${key}: route names its entity, and recovery reads it back` })
      }
    }
    if (Array.isArray(write.propagate)) {
      const dependents = new Map<string, number>()
      write.propagate.forEach((target: unknown, i) => {
        if (!isObject(target)) return
        const here = (...more: PathSegment[]): PathSegment[] => at('write', 'propagate', i, ...more)
        checkServiceReference(target.service, serviceNames, here('service'), issues)
        checkPathTemplate(target.path, ctx, here('path'), issues, { allowId: true })
        if (typeof target.versionHeader === 'string') checkVersionHeader(target.versionHeader, here('versionHeader'), issues)
        if (typeof target.service === 'string' && target.service !== '') {
          if (isObject(write.owner) && write.owner.service === target.service) {
            issues.push({ path: formatPath(here('service')), message: `${JSON.stringify(target.service)} is the owner of this entity; propagate only to services keeping a copy` })
          }
          const first = dependents.get(target.service)
          if (first === undefined) dependents.set(target.service, i)
          else issues.push({ path: formatPath(here('service')), message: `${JSON.stringify(target.service)} is already a target (propagate[${first}]); a service keeps one copy of an entity, so list it once` })
        }
      })
    }
    if (Array.isArray(write.invalidate)) {
      write.invalidate.forEach((tag: unknown, i) => checkTemplate(tag, ctx, at('write', 'invalidate', i), issues, { allowId: true }))
    }
  })
}

/** RFC 9110 §5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/**
 * Headers a delivery sets or the connection owns: naming one of them as the version header
 * would garble the delivery. Hop-by-hop headers never reach the service at all.
 */
const NOT_A_VERSION_HEADER = new Set([
  'host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive',
  'te', 'trailer', 'upgrade', 'expect', 'idempotency-key', 'authorization', 'cookie', 'if-match', 'if-none-match',
  'x-request-id', 'traceparent', 'tracestate'
])

function checkVersionHeader (name: string, at: PathSegment[], issues: ConfigIssue[]): void {
  if (!TOKEN.test(name)) {
    issues.push({ path: formatPath(at), message: `${JSON.stringify(name)} is not a header name (letters, digits and !#$%&'*+.^_\`|~- only), e.g. X-Copy-Version` })
  } else if (NOT_A_VERSION_HEADER.has(name.toLowerCase())) {
    issues.push({ path: formatPath(at), message: `${JSON.stringify(name)} is a header the delivery or its connection already uses; choose a header of its own, e.g. X-Copy-Version` })
  }
}

interface TemplateContext {
  /** The route's params, or undefined when its path is broken (then placeholders are not compared). */
  readonly params: readonly string[] | undefined
  readonly isPost: boolean
}

/** Returns the route's param names when the path is well-formed. */
function checkWritePath (path: string, at: PathSegment[], reserved: readonly string[], issues: ConfigIssue[]): string[] | undefined {
  return checkRoutePath(path, at, reserved, issues, '/api/users/:id')
}

function checkPathTemplate (path: unknown, ctx: TemplateContext, at: PathSegment[], issues: ConfigIssue[], opts: { allowId: boolean }): void {
  if (typeof path !== 'string' || path === '') return
  if (!path.startsWith('/')) {
    issues.push({ path: formatPath(at), message: `must start with "/" (found ${JSON.stringify(path)}); write ${JSON.stringify('/' + path)}` })
    return
  }
  if (/[?#]/.test(path)) {
    issues.push({ path: formatPath(at), message: `must be a path without "?" or "#" (found ${JSON.stringify(path)})` })
    return
  }
  if (!checkPlainPath(path, at, issues)) return
  checkTemplate(path, ctx, at, issues, opts)
}

function checkTemplate (text: unknown, ctx: TemplateContext, at: PathSegment[], issues: ConfigIssue[], opts: { allowId: boolean }): void {
  if (typeof text !== 'string' || text === '') return
  const parsed = parseTemplate(text)
  if (!parsed.ok) {
    issues.push({ path: formatPath(at), message: parsed.message })
    return
  }
  const { params, usesId } = placeholdersOf(parsed.template)
  if (usesId && !(opts.allowId && ctx.isPost)) {
    issues.push({
      path: formatPath(at),
      message: !opts.allowId
        ? '{id} is the id a POST created, unknown before the owner answers; the owner path names the collection on POST routes and the entity with {params.<name>} otherwise'
        : '{id} (the id a POST created) exists only on post: routes; use {params.<name>} with a parameter of the route path'
    })
  }
  if (ctx.params === undefined) return
  for (const name of params) {
    if (ctx.params.includes(name)) continue
    const suggestion = didYouMean(name, ctx.params)
    const known = ctx.params.length === 0 ? 'the route path has no parameters' : `its parameters are ${quoteList(ctx.params.map(p => `{params.${p}}`))}`
    issues.push({
      path: formatPath(at),
      message: suggestion === undefined
        ? `{params.${name}} is not a parameter of the route path; ${known}${ctx.isPost ? ' (on a POST route, {id} is the created id)' : ''}`
        : `{params.${name}} is not a parameter of the route path (did you mean {params.${suggestion}}?)`
    })
  }
}

function checkVersion (version: unknown, at: PathSegment[], issues: ConfigIssue[]): void {
  if (!isObject(version)) return
  const etag = version.etag
  const field = version.field
  const hasField = typeof field === 'string' && field !== ''
  if (etag === true && hasField) {
    issues.push({ path: formatPath(at), message: 'give exactly one version source: { etag: true } or { field: <name> }, not both' })
  } else if (etag !== true && !hasField && field === undefined) {
    issues.push({
      path: formatPath(at),
      message: etag === false
        ? 'with etag: false, say which body field holds the version: { field: version }; or use { etag: true }'
        : 'say where the owner puts the version: { etag: true } (an integer ETag such as "7") or { field: version } (an integer body field)'
    })
  }
}

/**
 * Advice that is no error (`junction check` prints it, the config stays valid): a POST
 * route whose owner does not declare Idempotency-Key keeps the documented crash window.
 */
export function writeRouteWarnings (routes: ReadonlyArray<{ readonly kind: string }>): string[] {
  const out: string[] = []
  for (const route of routes) {
    if (route.kind !== 'write') continue
    const write = route as WriteRouteConfig
    if (write.method !== 'POST' || write.owner.idempotencyKey) continue
    out.push(`${formatPath(['routes', write.index, 'write', 'owner'])}: POST ${write.path} is not crash-safe: if Junction stops between the owner's commit and the outbox record, the created entity reaches its copies only at its next write. If ${JSON.stringify(write.owner.service)} honours Idempotency-Key, set idempotencyKey: true (docs/versioning.md#crash-safety-intents-and-recovery)`)
  }
  return out
}

// ---- validate.body ----------------------------------------------------------------

/** `{ $ref: "schemas/user.json" }` names a file; any other object is the schema itself. */
function fileRef (body: Record<string, unknown>): string | undefined {
  const keys = Object.keys(body)
  return keys.length === 1 && typeof body.$ref === 'string' && !body.$ref.startsWith('#') ? body.$ref : undefined
}

type Loaded = { ok: true, schema: Record<string, unknown> } | { ok: false, message: string }

/** Reads the body schema of a route: the inline object, or the file its `$ref` names (relative to `baseDir`). */
export function loadBodySchema (body: Record<string, unknown>, baseDir: string): Loaded {
  const ref = fileRef(body)
  if (ref === undefined) return { ok: true, schema: body }
  const file = resolve(baseDir, ref)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { ok: false, message: `cannot read the schema file ${JSON.stringify(ref)} (${file}): ${code === 'ENOENT' ? 'it does not exist; the path is relative to the config file' : (err as Error).message}` }
  }
  try {
    const parsed: unknown = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : YAML.parse(text)
    if (!isObject(parsed)) return { ok: false, message: `the schema file ${JSON.stringify(ref)} must hold a JSON Schema object` }
    return { ok: true, schema: parsed }
  } catch (err) {
    return { ok: false, message: `the schema file ${JSON.stringify(ref)} is not valid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}` }
  }
}

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv

/** The ajv used for request bodies: every error at once, formats (email, date-time, ...) known. */
export function bodyAjv (): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false })
  addFormats(ajv)
  return ajv
}

/**
 * Reads and compiles every `validate.body` (files relative to `baseDir`), so a bad
 * schema is a config error at `junction check`, not a failure at the first request.
 */
export function checkBodySchemas (doc: unknown, baseDir: string): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (!isObject(doc) || !Array.isArray(doc.routes)) return issues
  let ajv: Ajv | undefined
  doc.routes.forEach((route: unknown, index) => {
    if (!isObject(route) || !isObject(route.validate) || !isObject(route.validate.body)) return
    const at = formatPath(['routes', index, 'validate', 'body'])
    const loaded = loadBodySchema(route.validate.body, baseDir)
    if (!loaded.ok) {
      issues.push({ path: at, message: loaded.message })
      return
    }
    try {
      ajv ??= bodyAjv()
      ajv.compile(loaded.schema)
    } catch (err) {
      issues.push({ path: at, message: `is not a valid JSON Schema: ${(err as Error).message}` })
    }
  })
  return issues
}

// ---- normaliser -------------------------------------------------------------------

/** A validated, cross-checked raw write route → WriteRouteConfig. */
export function normaliseWriteRoute (route: RawWriteRoute, index: number, bodyLimit: number, baseDir: string): WriteRouteConfig {
  const key = writeKeyOf(route as Record<string, unknown>)
  const path = key === undefined ? undefined : route[key]
  if (key === undefined || path === undefined) throw new Error('internal: a write route without its method key')
  const version = route.write.owner.version
  let bodySchema: Record<string, unknown> | undefined
  if (route.validate?.body !== undefined) {
    const loaded = loadBodySchema(route.validate.body, baseDir)
    if (!loaded.ok) throw new Error(`internal: unchecked body schema: ${loaded.message}`)
    bodySchema = structuredClone(loaded.schema)
  }
  return {
    kind: 'write',
    index,
    method: key.toUpperCase() as WriteMethod,
    path: normalisePath(path),
    owner: {
      service: route.write.owner.service,
      path: route.write.owner.path,
      version: version.field !== undefined ? { kind: 'field', field: version.field } : { kind: 'etag' },
      idempotencyKey: route.write.owner.idempotencyKey === true
    },
    requireIfMatch: route.write.requireIfMatch ?? false,
    propagate: (route.write.propagate ?? []).map(target => ({
      service: target.service,
      path: target.path,
      pick: target.pick === undefined ? undefined : [...target.pick],
      versionHeader: target.versionHeader
    })),
    invalidate: [...(route.write.invalidate ?? [])],
    bodySchema,
    bodyLimit
  }
}

/** '/api/users/:id/' and '/api/users/:id' are one route; keep one spelling ('/' stays '/'). */
function normalisePath (path: string): string {
  return path.replace(/(.)\/+$/, '$1')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
