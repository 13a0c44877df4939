/**
 * The protection keys every route kind takes (`auth:`, `public:`, `scopes:`, `rateLimit:`),
 * how they combine with the top-level `auth:` and `rateLimit:` blocks, and the normalised
 * result: one RouteProtection per route, by index.
 *
 * The public/private rule (docs/security.md):
 * - no authenticators declared: every route is public, as before authentication existed;
 * - authenticators declared: a route is authenticated by its `auth:`, public only with
 *   `public: true`, and one saying neither takes `auth.default`; with no default either,
 *   `junction check` names it. No route becomes public by forgetting a line.
 */
import { Type } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath, didYouMean, quoteList } from './config-error.js'
import {
  PUBLIC, authReference, checkAuthBlock, declaredAuthenticators, normaliseAuthenticators,
  type AuthenticatorConfig, type RawAuth
} from './auth-block.js'
import { RouteRateLimitSchema, checkRateLimit, normaliseRateLimit, type RateLimitConfig, type RawRateLimit } from './rate-limit-block.js'

/** Spread into each route kind's schema properties. */
export const ROUTE_PROTECTION_PROPERTIES = {
  auth: Type.Optional(authReference('Who may call this route: an authenticator declared under "auth" (or a list: any one of them). Requests without valid credentials get 401.')),
  public: Type.Optional(Type.Boolean({ description: 'true: anyone may call this route. With authenticators declared, every route needs "auth" or "public: true" (or auth.default).' })),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, description: 'A scope, e.g. orders:write.' }), {
    minItems: 1,
    uniqueItems: true,
    description: 'Scopes the caller must all have (a JWT\'s scope claim, an API key\'s scopes); a caller lacking one gets 403. Needs "auth".'
  })),
  rateLimit: Type.Optional(RouteRateLimitSchema)
}

export interface RouteProtection {
  /** Authenticator names, any one of which may accept the caller; empty: the route is public. */
  readonly authenticators: readonly string[]
  /** Scopes the caller must all have. */
  readonly scopes: readonly string[]
  readonly rateLimit: RateLimitConfig | undefined
}

export interface ProtectionConfig {
  /** By name (a null-prototype map). */
  readonly authenticators: Readonly<Record<string, AuthenticatorConfig>>
  /** One per route, by the route's index in `routes`. */
  readonly routes: readonly RouteProtection[]
  /** Every header some authenticator forwards a claim in (lower case): removed from every client request. */
  readonly claimHeaders: readonly string[]
}

/** The raw keys, as every route kind's schema type has them. */
interface RawRouteProtection {
  auth?: string | string[]
  public?: boolean
  scopes?: string[]
  rateLimit?: RawRateLimit | boolean
}

// ---- checks -----------------------------------------------------------------------

/** Checks the `auth:` and top-level `rateLimit:` blocks and every route's protection keys. */
export function checkProtection (doc: unknown, baseDir: string): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (!isObject(doc)) return issues
  const declared = declaredAuthenticators(doc.auth)
  checkAuthBlock(doc.auth, baseDir, issues)
  const auth = isObject(doc.auth) ? doc.auth : {}
  const fallback = auth.default
  if (fallback !== undefined) checkReferences(fallback, declared, ['auth', 'default'], true, issues)
  checkRateLimit(doc.rateLimit, ['rateLimit'], issues)
  if (!Array.isArray(doc.routes)) return issues

  doc.routes.forEach((route: unknown, index) => {
    if (!isObject(route)) return
    const at = (...more: PathSegment[]): PathSegment[] => ['routes', index, ...more]
    if (route.auth !== undefined) checkReferences(route.auth, declared, at('auth'), false, issues)
    const isPublic = route.public === true
    if (route.auth !== undefined && isPublic) {
      issues.push({ path: formatPath(at()), message: `${describeRoute(route)} has both "auth" and "public: true"; a route is either authenticated or public: keep one` })
    }
    // Who the route is for, as far as a possibly broken document says.
    const effective = route.auth ?? (isPublic ? PUBLIC : fallback)
    // Already reported when it says nothing: what follows would only repeat it.
    // (A `public:` of the wrong type is the validator's to report.)
    const undeclared = declared.size > 0 && route.auth === undefined && (route.public === undefined || route.public === false) && fallback === undefined
    if (undeclared) {
      issues.push({
        path: formatPath(at()),
        message: `${describeRoute(route)} needs "auth: <authenticator>" (${quoteList([...declared.keys()])}) or "public: true": with authenticators declared, no route is public by omission (or set auth.default)`
      })
    }
    const names = namesOf(effective)
    const authenticated = names.length > 0 || undeclared
    if (route.scopes !== undefined && !authenticated) {
      issues.push({
        path: formatPath(at('scopes')),
        message: declared.size === 0
          ? 'needs an authenticated route, and no authenticators are declared; declare one under auth.jwt or auth.apiKeys and add "auth:" to this route'
          : `${describeRoute(route)} is public, so there is no caller whose scopes to check; add "auth: <authenticator>" or remove "scopes"`
      })
    }
    checkRateLimit(route.rateLimit, at('rateLimit'), issues)
    const key = isObject(route.rateLimit) ? route.rateLimit.key : undefined
    if (key === 'sub' && !authenticated) {
      issues.push({ path: formatPath(at('rateLimit', 'key')), message: `"sub" counts authenticated callers, and ${describeRoute(route)} is public: every request would be counted by address; use key: ip, or add "auth:"` })
    } else if (key === 'apiKey' && (!authenticated || names.some(name => declared.has(name) && declared.get(name) !== 'apiKey'))) {
      issues.push({ path: formatPath(at('rateLimit', 'key')), message: `"apiKey" counts each API key, and ${describeRoute(route)} is not authenticated by API keys only; use key: sub to count callers whichever authenticator accepted them` })
    }
  })
  return issues
}

function checkReferences (value: unknown, declared: ReadonlyMap<string, unknown>, path: PathSegment[], isDefault: boolean, issues: ConfigIssue[]): void {
  const entries: Array<[string, PathSegment[]]> = typeof value === 'string'
    ? [[value, path]]
    : Array.isArray(value) ? value.flatMap((name: unknown, i) => typeof name === 'string' ? [[name, [...path, i]] as [string, PathSegment[]]] : []) : []
  for (const [name, at] of entries) {
    if (name === '' || declared.has(name)) continue
    if (name === PUBLIC) {
      if (isDefault && typeof value === 'string') continue
      issues.push({
        path: formatPath(at),
        message: isDefault ? '"public" is the whole default, not one of a list; write default: public' : 'a public route says "public: true" instead of naming an authenticator'
      })
      continue
    }
    const names = [...declared.keys()]
    const suggestion = didYouMean(name, names)
    issues.push({
      path: formatPath(at),
      message: names.length === 0
        ? `unknown authenticator "${name}": none are declared; declare it under auth.jwt or auth.apiKeys`
        : suggestion !== undefined
          ? `unknown authenticator "${name}" (did you mean "${suggestion}"?)`
          : `unknown authenticator "${name}"; declared: ${quoteList(names)}`
    })
  }
}

function namesOf (value: unknown): string[] {
  if (value === PUBLIC) return []
  if (typeof value === 'string') return value === '' ? [] : [value]
  return Array.isArray(value) ? value.filter((name: unknown): name is string => typeof name === 'string' && name !== '' && name !== PUBLIC) : []
}

/** `the route "/api/users"` / `the route "PUT /api/users/:id"`, for messages. */
function describeRoute (route: Record<string, unknown>): string {
  for (const key of ['proxy', 'get', 'put', 'post', 'patch', 'delete']) {
    const path = route[key]
    if (typeof path === 'string') return `the route ${JSON.stringify(key === 'proxy' ? path : `${key.toUpperCase()} ${path}`)}`
  }
  return 'this route'
}

// ---- normaliser -------------------------------------------------------------------

/** The validated, checked document's protection, resolved per route. */
export function normaliseProtection (raw: { auth?: RawAuth, rateLimit?: RawRateLimit, routes?: readonly RawRouteProtection[] }, baseDir: string): ProtectionConfig {
  const authenticators = normaliseAuthenticators(raw.auth, baseDir)
  const fallback = raw.auth?.default
  const topLimit = raw.rateLimit === undefined ? undefined : normaliseRateLimit(raw.rateLimit)
  const routes = (raw.routes ?? []).map((route): RouteProtection => {
    const names = route.public === true ? [] : namesOf(route.auth ?? fallback)
    const limit = route.rateLimit
    return {
      authenticators: names,
      scopes: [...(route.scopes ?? [])],
      rateLimit: limit === false ? undefined : typeof limit === 'object' ? normaliseRateLimit(limit) : topLimit
    }
  })
  const claimHeaders = [...new Set(Object.values(authenticators).flatMap(a => a.forwardClaims.map(c => c.header)))]
  return { authenticators, routes, claimHeaders }
}

/** The claim headers the authenticators of one route forward (lower case, each once). */
export function routeClaimHeaders (protection: ProtectionConfig, index: number): string[] {
  const names = protection.routes[index]?.authenticators ?? []
  return [...new Set(names.flatMap(name => protection.authenticators[name]?.forwardClaims.map(c => c.header) ?? []))]
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
