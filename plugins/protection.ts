/**
 * Authentication and rate limiting of the configured routes (docs/security.md), compiled
 * once at start into `onRequest` hooks per route. The route plugins (proxy, compose, write)
 * spread `app.protection.routeOptions(route)` into each Fastify route they register, so a
 * configured route's methods and paths share one set of hooks, and one rate-limit bucket.
 *
 * Per request, in this order:
 * 1. with `rateLimit.key: ip`: the limiter (before authentication, so failed attempts count);
 * 2. the route guard: claim headers removed, the caller authenticated (401/403 on refusal),
 *    credentials removed, verified claims set as headers; on public routes only the removal;
 * 3. with `rateLimit.key: sub | apiKey`: the limiter, keyed by the authenticated caller.
 * A route with nothing to do gets no hook at all.
 *
 * JWT verifiers are built here with @fastify/jwt, one registration (namespace) per key, so
 * each is a fast-jwt verifier compiled once with its key and checks; requests call it through
 * `app.jwt[namespace].verify(token)`, which reuses it. Rate limiting is @fastify/rate-limit
 * (IETF draft RateLimit-* headers, Retry-After on 429) over our own counters
 * (src/rate-limit/windows.ts): Redis when the store is Redis, else process memory.
 */
import ms from 'ms'
import fp from 'fastify-plugin'
import fastifyJwt, { type JWT } from '@fastify/jwt'
import rateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { JwtAuthenticatorConfig } from '../src/config/auth-block.js'
import type { RateLimitConfig } from '../src/config/rate-limit-block.js'
import type { ProtectionConfig, RouteConfig, StoreConfig } from '../src/config/types.js'
import type { Authenticator, Principal } from '../src/auth/authenticator.js'
import { ApiKeyAuthenticator } from '../src/auth/api-key-authenticator.js'
import { JwtAuthenticator, type KeyVerifier } from '../src/auth/jwt-authenticator.js'
import { RouteGuard } from '../src/auth/route-guard.js'
import { MemoryWindows, RedisWindows, type WindowCounters } from '../src/rate-limit/windows.js'
import { errors } from '../src/errors.js'

export interface ProtectionOptions {
  protection: ProtectionConfig
  routes: readonly RouteConfig[]
  store: StoreConfig
}

export interface Protection {
  /** `{ onRequest }` for one of a configured route's Fastify routes (a fresh list each call); `{}` when it needs none. */
  routeOptions (route: RouteConfig): { onRequest?: onRequestHookHandler[] }
}

/** A Redis outage is logged at most this often, not once per request. */
const OUTAGE_LOG_INTERVAL_MS = 10_000

export default fp<ProtectionOptions>(async function protection (app, opts) {
  const config = opts.protection
  app.decorateRequest('principal', null)

  const authenticators = new Map<string, Authenticator>()
  for (const authenticator of Object.values(config.authenticators)) {
    authenticators.set(authenticator.name, authenticator.kind === 'apiKey'
      ? new ApiKeyAuthenticator(authenticator)
      : new JwtAuthenticator(authenticator, await jwtVerifiers(app, authenticator)))
  }

  let windows: WindowCounters | undefined
  if (config.routes.some(route => route.rateLimit !== undefined)) {
    windows = await openWindows(opts.store, app)
    const counters = windows
    app.addHook('onClose', async () => { await counters.close() })
    // The plugin builds its store with `new`, then asks it for one child per limiter.
    class Buckets {
      child (options: { bucket: string }): unknown { return counters.bucket(options.bucket) }
    }
    await app.register(rateLimit, {
      global: false,
      store: Buckets as unknown as NonNullable<RateLimitOptions['store']>,
      enableDraftSpec: true,
      // A store failure (Redis away) lets the request through: availability over the limit.
      skipOnError: true
    })
  }

  const options = new Map<number, { onRequest?: onRequestHookHandler[] }>()
  for (const route of opts.routes) {
    const settings = config.routes[route.index]
    if (settings === undefined) continue
    const hooks: onRequestHookHandler[] = []
    const limit = settings.rateLimit
    const limiter = limit === undefined ? undefined : routeLimiter(app, limit, bucketLabel(route))
    if (limiter !== undefined && limit?.key === 'ip') hooks.push(limiter)
    const guard = new RouteGuard(settings.authenticators.map(name => authenticators.get(name) as Authenticator), settings.scopes, config.claimHeaders)
    if (guard.authenticates) hooks.push(authenticate(guard))
    else if (config.claimHeaders.length > 0) hooks.push(stripClaims(guard))
    if (limiter !== undefined && limit?.key !== 'ip') hooks.push(limiter)
    options.set(route.index, hooks.length === 0 ? {} : { onRequest: hooks })
  }

  app.decorate<Protection>('protection', {
    routeOptions: route => {
      const hooks = options.get(route.index)?.onRequest
      return hooks === undefined ? {} : { onRequest: [...hooks] }
    }
  })
}, { name: 'protection', fastify: '5.x' })

/** Callback style: it runs on every request of the route, and an async hook costs a promise. */
function authenticate (guard: RouteGuard): onRequestHookHandler {
  return function authenticateRequest (request, reply, done) {
    const result = guard.check(request.raw.headers)
    if ('error' in result) {
      const challenges = result.challenges
      reply.header('www-authenticate', challenges.length === 1 ? challenges[0] : challenges)
      done(result.error)
      return
    }
    request.principal = result
    done()
  }
}

function stripClaims (guard: RouteGuard): onRequestHookHandler {
  return function stripClaimHeaders (request, _reply, done) {
    guard.strip(request.raw.headers)
    done()
  }
}

/** One limiter per configured route: its bucket is shared by all of the route's Fastify routes. */
function routeLimiter (app: FastifyInstance, limit: RateLimitConfig, bucket: string): onRequestHookHandler {
  const window = ms(limit.windowMs, { long: true })
  const options = {
    max: limit.max,
    timeWindow: limit.windowMs,
    // Without a keyGenerator the plugin counts by normalised address (IPv6 by /64) directly.
    ...(limit.key === 'ip' ? {} : { keyGenerator: limit.key === 'sub' ? subjectKey : apiKeyKey }),
    errorResponseBuilder: (_request: FastifyRequest, context: { ttl: number }) => errors.rateLimited(limit.max, window, Math.max(1, Math.ceil(context.ttl / 1000))),
    // Read by our store's child(): @fastify/rate-limit passes the options through.
    bucket
  }
  return app.rateLimit(options as RateLimitOptions) as unknown as onRequestHookHandler
}

/** The caller's subject; a request without one (a public route) is counted by address. */
function subjectKey (request: FastifyRequest): string {
  const principal = request.principal
  return principal?.subject === undefined ? `ip:${normalizeIP(request.ip)}` : `sub:${principal.authenticator}:${principal.subject}`
}

function apiKeyKey (request: FastifyRequest): string {
  const principal = request.principal
  return principal?.keyName === undefined ? subjectKey(request) : `key:${principal.authenticator}:${principal.keyName}`
}

/** A route's stable name in counter keys: its method(s) and gateway path, not its position in the file. */
function bucketLabel (route: RouteConfig): string {
  switch (route.kind) {
    case 'proxy': return `* ${route.prefix}`
    case 'compose': return `GET ${route.path}`
    case 'write': return `${route.method} ${route.path}`
  }
}

async function openWindows (store: StoreConfig, app: FastifyInstance): Promise<WindowCounters> {
  if (store.kind !== 'redis') return new MemoryWindows()
  let lastLogged = 0
  return await RedisWindows.open(store, err => {
    const now = Date.now()
    if (now - lastLogged < OUTAGE_LOG_INTERVAL_MS) return
    lastLogged = now
    app.log.warn({ err }, 'rate limiting: Redis did not answer; requests go through unlimited until it does')
  })
}

/** One @fastify/jwt registration per key of the authenticator; its compiled verifier is reused by every request. */
async function jwtVerifiers (app: FastifyInstance, config: JwtAuthenticatorConfig): Promise<KeyVerifier[]> {
  const verifiers: KeyVerifier[] = []
  for (const [i, key] of config.keys.entries()) {
    const allowed = config.algorithms
    const algorithms = allowed === undefined ? key.algorithms : key.algorithms.filter(a => allowed.includes(a))
    // A JWKS key whose algorithms are all excluded by `algorithms` verifies nothing.
    if (algorithms.length === 0) continue
    const namespace = `junction:${config.name}:${i}`
    await app.register(fastifyJwt, {
      namespace,
      secret: key.type === 'secret' ? key.material : { public: key.material },
      verify: {
        algorithms: [...algorithms],
        ...(config.issuer === undefined ? {} : { allowedIss: [...config.issuer] }),
        ...(config.audience === undefined ? {} : { allowedAud: [...config.audience] }),
        clockTolerance: config.clockToleranceMs,
        requiredClaims: [...config.requiredClaims],
        // Off: src/auth/verified-tokens.ts remembers verified tokens without hashing each one.
        cache: false
      }
    })
    const jwt = (app.jwt as unknown as Record<string, JWT>)[namespace] as JWT
    verifiers.push({ kid: key.kid, verify: token => jwt.verify(token) })
  }
  return verifiers
}

declare module 'fastify' {
  interface FastifyInstance {
    protection: Protection
  }
  interface FastifyRequest {
    /** The authenticated caller on routes with `auth:`; null elsewhere. */
    principal: Principal | null
  }
}
