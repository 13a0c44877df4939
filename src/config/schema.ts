/**
 * The file format users write, as one TypeBox schema: the single source of the ajv validator
 * (./validate.ts), of the published JSON Schema (schema/junction.schema.json, editor hints
 * come from the descriptions) and of the `RawConfig` type.
 *
 * Conventions:
 * - `additionalProperties: false` on every object, so a misspelt key is an error, never
 *   silently ignored.
 * - Durations and sizes accept a string with a unit or an integer; the schema only checks the
 *   type, the units are parsed (and reported) by ./cross-check.ts.
 * - `default` appears only outside `anyOf` (ajv cannot apply defaults inside a union and its
 *   strict mode rejects them there); the other defaults are filled in by the normaliser and
 *   stated in the descriptions.
 * - Routes are a union discriminated by which key is present (`proxy:` today; `get:`/`put:`
 *   later): a new route kind is a new entry in ROUTE_KINDS plus a branch in RouteSchema.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import type { HttpMethod } from './types.js'
import { WriteRouteSchema, WRITE_KEYS } from './write-route.js'
import { OutboxOptionsSchema } from '../outbox/outbox-options.js'
import { ComposeRouteSchema, COMPOSE_KEYS } from './compose-route.js'
import { CacheBlockSchema, CacheSettingsSchema, ProxyInvalidateSchema } from './cache-block.js'
import { CircuitBreakerSchema, HealthCheckSchema, OverloadSchema, RetrySchema, RouteRetrySchema } from './resilience-block.js'
import { AuthSchema } from './auth-block.js'
import { RateLimitSchema } from './rate-limit-block.js'
import { ROUTE_PROTECTION_PROPERTIES } from './route-protection.js'
import { ObservabilitySchema } from './observability-block.js'

export const HTTP_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const FSYNC_MODES = ['always', 'batch'] as const

/** Service names appear in paths, logs and metrics: keep them plain. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_-]*$'

/** A string from a fixed set, as a plain `enum` (a union of literals would make ajv report one error per literal). */
function stringEnum<T extends string> (values: readonly T[], options: { description: string, default?: NoInfer<T> }): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options })
}

function duration (description: string, fallback?: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.`,
    examples: ['500ms', '2s', '5m'],
    ...(fallback === undefined ? {} : { default: fallback })
  })
}

function size (description: string, fallback?: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A size: a string with a unit ("512kb", "1mb") or an integer of bytes.`,
    examples: ['512kb', '1mb', '100mb'],
    ...(fallback === undefined ? {} : { default: fallback })
  })
}

const NonEmptyString = (description: string, extra: Record<string, unknown> = {}) =>
  Type.String({ minLength: 1, description, ...extra })

export const ServerSchema = Type.Object({
  host: Type.Optional(NonEmptyString('Interface the gateway listens on. Default 0.0.0.0 (all interfaces); 127.0.0.1 to accept local connections only. Env override: JUNCTION_HOST.', { default: '0.0.0.0' })),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'TCP port the gateway listens on (0 picks a free port). Default 8080. Env override: JUNCTION_PORT.' })),
  bodyLimit: Type.Optional(size('Largest request body accepted, for routes that do not set their own bodyLimit. Default 1mb.', '1mb')),
  shutdownTimeout: Type.Optional(duration('On SIGTERM/SIGINT, how long to wait for in-flight requests before closing them. Default 10s.', '10s')),
  trustProxy: Type.Optional(Type.Unsafe<boolean | string[]>({
    type: ['boolean', 'array'],
    items: { type: 'string', minLength: 1 },
    default: false,
    description: 'Which peers may state the client\'s address, protocol and host in X-Forwarded-* (else those headers are dropped and set afresh): false (none), true (every peer: only when nothing but a reverse proxy such as nginx can reach the gateway), or a list of IP addresses and CIDR ranges of the proxies, e.g. [10.0.0.0/8, "::1"]. Default false.'
  })),
  logLevel: Type.Optional(stringEnum(LOG_LEVELS, { default: 'info', description: 'Least severe log level written. Default info.' })),
  maxHeaderSize: Type.Optional(size('Largest request line plus headers a client may send; larger gets 431. From 1kb to 1mb. Default 16kb.', '16kb')),
  maxHeaders: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Most header fields one request may have; more gets 431. Default 100.' })),
  headersTimeout: Type.Optional(duration('How long a client may take to send the request line and headers; slower gets 408 and the connection is closed (slowloris). Default 10s.', '10s')),
  requestTimeout: Type.Optional(duration('How long a client may take to send a whole request, body included; slower gets 408. At least headersTimeout. Default 60s.', '60s')),
  keepAliveTimeout: Type.Optional(duration('How long an idle client connection is kept open between requests. Keep it above the idle timeout of a proxy in front (nginx upstream keepalive_timeout, a load balancer\'s idle timeout), so the proxy closes first. Default 72s.', '72s')),
  overload: Type.Optional(OverloadSchema),
  workers: Type.Optional(Type.Unsafe<number | string>({
    type: ['integer', 'string'],
    minimum: 1,
    maximum: 256,
    default: 1,
    examples: [2, 'auto'],
    description: 'How many processes serve the port (node:cluster): a number, or "auto" for one per CPU. More than 1 needs store kind redis (the embedded store has one writer). A worker that dies is replaced; SIGTERM drains every worker. Default 1.'
  }))
}, { additionalProperties: false, default: {}, description: 'The HTTP listener. Every key is optional.' })

const EmbeddedStoreSchema = Type.Object({
  kind: Type.Optional(Type.Literal('embedded', { description: 'In-process store with an append-only journal on disk. The default kind.' })),
  dir: Type.Optional(NonEmptyString('Directory of the journal, relative to the config file. Default ./data.')),
  fsync: Type.Optional(stringEnum(FSYNC_MODES, { description: '"always": fsync before acknowledging a durable write (safest, slowest); "batch": write before acknowledging, fsync periodically. Default batch.' }))
}, { additionalProperties: false, description: 'The embedded store: no extra infrastructure, one gateway instance.' })

const RedisStoreSchema = Type.Object({
  kind: Type.Literal('redis', { description: 'Keep state in Redis, so several gateway instances share it.' }),
  url: NonEmptyString('Redis connection URL, e.g. redis://127.0.0.1:6379 or rediss://user:pass@host:6380/0. Env override: JUNCTION_STORE_URL.'),
  prefix: Type.Optional(NonEmptyString('Prefix of every key Junction writes. Default "junction:".')),
  cluster: Type.Optional(Type.Boolean({ description: 'true: url is one node of a Redis Cluster; the others are discovered from it. Default false.' })),
  timeout: Type.Optional(duration('How long one Redis command may take before it fails. While Redis is unreachable, cached routes pass requests through (X-Cache: BYPASS), write routes answer 503 and /ready 503, each within this time at most. Keep it well above the slowest Redis answer under load: a command that times out counts as failed (an outbox delivery is then retried; dependents deduplicate). Default 2s.'))
}, { additionalProperties: false, description: 'A Redis (or Redis Cluster) store, shared by several gateway instances.' })

/** Store kinds, in the order of the StoreSchema branches (the validator relies on it). */
export const STORE_KINDS = ['embedded', 'redis'] as const

export const StoreSchema = Type.Union([EmbeddedStoreSchema, RedisStoreSchema], {
  description: 'Where Junction keeps state that outlives a request. Default { kind: embedded, dir: ./data, fsync: batch }. Env override: JUNCTION_STORE_URL switches to redis.'
})

export const AdminSchema = Type.Object({
  // eslint-disable-next-line no-template-curly-in-string -- the description shows env-substitution syntax
  token: Type.Optional(Type.String({ description: 'Bearer token of the admin API and dashboard; both are disabled when unset or empty. Use "${ADMIN_TOKEN}" rather than writing the secret in the file. Env override: JUNCTION_ADMIN_TOKEN, then ADMIN_TOKEN.' }))
}, { additionalProperties: false, default: {}, description: 'The admin API.' })

export const ServiceSchema = Type.Object({
  urls: Type.Array(NonEmptyString('An absolute http(s) URL with scheme, host and port only, e.g. http://127.0.0.1:3001.'), {
    minItems: 1,
    description: 'Base URLs of the service\'s instances (scheme, host and port, no path), e.g. [http://127.0.0.1:3001]. Requests are spread across them.'
  }),
  timeout: Type.Optional(duration('How long to wait for response headers, and between body chunks. Default 30s.', '30s')),
  connectTimeout: Type.Optional(duration('How long to wait for a TCP/TLS connection. Default 5s.', '5s')),
  connections: Type.Optional(Type.Integer({ minimum: 1, default: 128, description: 'Keep-alive connections per upstream URL. Default 128.' })),
  keepAliveTimeout: Type.Optional(duration('How long an idle keep-alive connection is kept; keep it below the service\'s own keep-alive timeout. Default 4s.', '4s')),
  retry: Type.Optional(RetrySchema),
  circuitBreaker: Type.Optional(CircuitBreakerSchema),
  health: Type.Optional(HealthCheckSchema)
}, { additionalProperties: false, description: 'An upstream service: where its instances are, how to talk to them and how to cope when they fail (docs/resilience.md).' })

export const ServicesSchema = Type.Unsafe<Record<string, Static<typeof ServiceSchema>>>({
  type: 'object',
  patternProperties: { [SERVICE_NAME_PATTERN]: ServiceSchema },
  additionalProperties: false,
  default: {},
  description: 'The upstream services, by name (letters, digits, "-" and "_", starting with a letter). Routes refer to them by name.'
})

export const ProxyRouteSchema = Type.Object({
  proxy: NonEmptyString('Forward every request whose path starts with this prefix, e.g. /api/users (matches /api/users and /api/users/...). No "?", "#", ":" params or "*".'),
  service: NonEmptyString('Name of the service (a key under "services") the requests go to.'),
  rewrite: Type.Optional(NonEmptyString('What the prefix is replaced with toward the service, e.g. /users turns /api/users/7 into /users/7. Default: the prefix itself (no rewrite).')),
  methods: Type.Optional(Type.Array(stringEnum(HTTP_METHODS, { description: 'An HTTP method.' }), {
    minItems: 1,
    uniqueItems: true,
    description: `Methods this route accepts; other methods get 405. Default: all (${HTTP_METHODS.join(', ')}).`
  })),
  bodyLimit: Type.Optional(size('Largest request body accepted on this route. Default: server.bodyLimit.')),
  cache: Type.Optional(CacheBlockSchema),
  invalidate: Type.Optional(ProxyInvalidateSchema),
  retry: Type.Optional(RouteRetrySchema),
  ...ROUTE_PROTECTION_PROPERTIES
}, { additionalProperties: false, description: 'A proxy route: forwards a path prefix to a service.' })

/**
 * Route kinds, discriminated by which of these keys a route has, in the order of the
 * RouteSchema branches (the validator relies on it to pick the branch whose errors to show).
 */
export const ROUTE_KINDS: ReadonlyArray<{ readonly keys: readonly string[], readonly summary: string }> = [
  { keys: ['proxy'], summary: 'forward a path prefix to a service' },
  { keys: WRITE_KEYS, summary: 'write to the owning service and propagate to its copies' },
  { keys: COMPOSE_KEYS, summary: 'compose one response from several services' }
  // compose routes (`get:`) and write routes (`put:`/`post:`/`patch:`/`delete:`) add an entry each
]

export const RouteSchema = Type.Union([
  ProxyRouteSchema,
  WriteRouteSchema,
  ComposeRouteSchema
  // one branch per ROUTE_KINDS entry, same order
], {
  description: 'A route. Its kind is given by which key it has: "proxy", or "put"/"post"/"patch"/"delete" (a write route), or "get" (a compose route).'
})

export const ConfigSchema = Type.Object({
  // Lets JSON configs name their schema for editors ("$schema": "./junction.schema.json").
  $schema: Type.Optional(Type.String({ description: 'Path or URL of this JSON Schema, for editors. Ignored by Junction.' })),
  server: Type.Optional(ServerSchema),
  store: Type.Optional(StoreSchema),
  admin: Type.Optional(AdminSchema),
  services: Type.Optional(ServicesSchema),
  outbox: Type.Optional(OutboxOptionsSchema),
  cache: Type.Optional(CacheSettingsSchema),
  auth: Type.Optional(AuthSchema),
  rateLimit: Type.Optional(RateLimitSchema),
  observability: Type.Optional(ObservabilitySchema),
  routes: Type.Optional(Type.Array(RouteSchema, {
    description: 'The routes, in any order; the longest matching prefix wins.'
  }))
}, {
  additionalProperties: false,
  title: 'Junction gateway configuration',
  description: 'Configuration of a Junction API gateway. See docs/config.md.'
})

/**
 * The file format. Keys with a `default` are optional here (and in the published JSON
 * Schema, so editors do not demand them) but always present after validation.
 */
export type RawConfig = Static<typeof ConfigSchema>
export type RawServer = Static<typeof ServerSchema>
export type RawService = Static<typeof ServiceSchema>
export type RawProxyRoute = Static<typeof ProxyRouteSchema>
export type RawRoute = Static<typeof RouteSchema>
export type RawStore = Static<typeof StoreSchema>

/**
 * A RawConfig after ajv (useDefaults) accepted it: every key whose schema has a `default` is
 * filled in. Keys without one (store, routes, route options) stay optional; the normaliser
 * fills those (their defaults depend on other keys or on the config file's location).
 */
export type ValidConfig = Omit<RawConfig, 'server' | 'admin' | 'services'> & {
  server: Required<Omit<RawServer, 'overload'>> & Pick<RawServer, 'overload'>
  admin: Static<typeof AdminSchema>
  services: Record<string, Required<Omit<RawService, OptionalServiceBlock>> & Pick<RawService, OptionalServiceBlock>>
}

/** Service keys without a schema default: their defaults are filled in by the normaliser. */
type OptionalServiceBlock = 'retry' | 'circuitBreaker' | 'health'
