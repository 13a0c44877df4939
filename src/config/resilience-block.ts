/**
 * The resilience keys of the config (docs/resilience.md): a service's `retry`,
 * `circuitBreaker` and `health` blocks, a proxy route's `retry` opt-in for PUT/DELETE and
 * `server.overload`. Everything about their configuration lives here: schema pieces (used
 * by ./schema.ts), cross-checks (called by ./cross-check.ts) and normalisers (called by
 * ./load.ts). The runtime is src/upstream/ and plugins/overload.ts.
 *
 * Defaults are filled in by the normalisers, not by ajv, so a validated document holds
 * what the user wrote; each description states its default.
 *
 * Like the rest of the cross-checks, the checks here run on documents that may be
 * malformed anywhere: every access is guarded, wrong types are the validator's to report.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'
import { checkDuration, checkSize, parseDuration, parseSize } from './cross-check.js'
import type { HttpMethod } from './types.js'

// ---- normalised forms and defaults ------------------------------------------------

export interface RetryBudgetConfig {
  /** Retries allowed as a fraction of requests over the window. */
  readonly ratio: number
  /** Retries allowed per window whatever the ratio. */
  readonly minRetries: number
  readonly windowMs: number
}

export interface RetryConfig {
  /** Tries in all, the first included; 1: no retries. */
  readonly attempts: number
  /** Bound of the first retry delay; doubles per retry up to maxBackoffMs (full jitter below it). */
  readonly backoffMs: number
  readonly maxBackoffMs: number
  /** How long one try waits for response headers; undefined: the call's own timeout. */
  readonly tryTimeoutMs: number | undefined
  /** Until response headers, across every try; undefined: the call's own timeout. */
  readonly deadlineMs: number | undefined
  readonly budget: RetryBudgetConfig
}

export interface CircuitBreakerConfig {
  /** Opens after this many failures in a row. */
  readonly consecutiveFailures: number
  /** ...or when more than this fraction of calls failed over the window. */
  readonly failureRate: number
  readonly windowMs: number
  /** The failure rate is judged only above this many calls per second (over the window). */
  readonly minimumRps: number
  /** How long an open circuit keeps its URL out of rotation before one probe call may go. */
  readonly coolDownMs: number
}

export interface HealthCheckConfig {
  readonly path: string
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Consecutive passing checks that bring a URL back. */
  readonly healthyThreshold: number
  /** Consecutive failing checks that take a URL out. */
  readonly unhealthyThreshold: number
}

export interface OverloadConfig {
  /** Mean event loop delay over a sample; 0: not watched. */
  readonly maxEventLoopDelayMs: number
  /** Event loop utilisation, 0 to 1; 0: not watched. */
  readonly maxEventLoopUtilization: number
  /** 0: not watched. */
  readonly maxHeapUsedBytes: number
  /** 0: not watched. */
  readonly maxRssBytes: number
  readonly sampleIntervalMs: number
  /** Whole seconds, for the Retry-After header. */
  readonly retryAfterSec: number
}

export const RETRY_DEFAULTS: RetryConfig = Object.freeze({
  attempts: 2,
  backoffMs: 25,
  maxBackoffMs: 250,
  tryTimeoutMs: undefined,
  deadlineMs: undefined,
  budget: Object.freeze({ ratio: 0.2, minRetries: 10, windowMs: 10_000 })
})

export const CIRCUIT_BREAKER_DEFAULTS: CircuitBreakerConfig = Object.freeze({
  consecutiveFailures: 5,
  failureRate: 0.5,
  windowMs: 10_000,
  minimumRps: 5,
  coolDownMs: 5000
})

export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  intervalMs: 5000,
  timeoutMs: 1000,
  healthyThreshold: 2,
  unhealthyThreshold: 3
})

export const OVERLOAD_DEFAULTS: OverloadConfig = Object.freeze({
  maxEventLoopDelayMs: 1000,
  maxEventLoopUtilization: 0,
  maxHeapUsedBytes: 0,
  maxRssBytes: 0,
  sampleIntervalMs: 1000,
  retryAfterSec: 10
})

/** Methods every route may retry (RFC 9110 §9.2.1 safe methods). */
export const ALWAYS_RETRYABLE: readonly HttpMethod[] = ['GET', 'HEAD', 'OPTIONS']
/** Idempotent by RFC 9110 §9.2.2, but only retried where a route says its service honours that. */
export const OPT_IN_RETRYABLE: readonly HttpMethod[] = ['PUT', 'DELETE']

// ---- schema ---------------------------------------------------------------------------

const ALL_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

function duration (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.`,
    examples: ['500ms', '2s']
  })
}

function size (description: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A size: a string with a unit ("512mb", "1gb") or an integer of bytes.`,
    examples: ['512mb', '1gb']
  })
}

export const RetrySchema = Type.Object({
  attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: 'Tries in all, the first included; 1 turns retries off. Default 2.' })),
  backoff: Type.Optional(duration('Bound of the first retry delay; it doubles per retry up to maxBackoff, and each delay is random below its bound (full jitter). Default 25ms.')),
  maxBackoff: Type.Optional(duration('Largest retry delay bound. Default 250ms.')),
  tryTimeout: Type.Optional(duration('How long one try waits for response headers before it is abandoned (and retried); at most the service timeout. Default: the service timeout (compose parts: the part timeout).')),
  deadline: Type.Optional(duration('How long all tries together may take until response headers arrive: no retry starts after it. Default: the service timeout (compose parts: the part timeout).')),
  budget: Type.Optional(Type.Object({
    ratio: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Retries allowed, as a fraction of the requests in the window. Default 0.2.' })),
    minRetries: Type.Optional(Type.Integer({ minimum: 0, description: 'Retries allowed in the window whatever the ratio, so a quiet service can still retry. Default 10.' })),
    window: Type.Optional(duration('The sliding window the budget counts over. Default 10s.'))
  }, { additionalProperties: false, description: 'Caps retries so they cannot multiply the load on a failing service: within any window, retries ≤ minRetries + ratio × requests.' }))
}, {
  additionalProperties: false,
  description: 'Retries of safe calls (GET, HEAD, OPTIONS; PUT and DELETE where a route opts in; never POST or PATCH) after a connect error, a reset, a try timeout or a 502/503/504, preferring another URL of the service. Every key is optional.'
})

export const CircuitBreakerSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean({ description: 'false: no circuit breaking or passive ejection for this service. Default true.' })),
  consecutiveFailures: Type.Optional(Type.Integer({ minimum: 1, description: 'A URL\'s circuit opens after this many failed calls in a row. Default 5.' })),
  failureRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'It also opens when more than this fraction of its calls failed over the window. Default 0.5.' })),
  window: Type.Optional(duration('The sliding window of the failure rate. Default 10s.')),
  minimumRps: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'The failure rate is judged only when the URL had at least this many calls per second over the window. Default 5.' })),
  coolDown: Type.Optional(duration('How long an open circuit keeps its URL out of rotation; then one call probes it (half-open): success closes the circuit, failure opens it again. Default 5s.'))
}, {
  additionalProperties: false,
  description: 'A circuit breaker per URL of the service: a failing URL leaves the round-robin; with every URL out, calls fail fast with 503. Failures are connect errors, resets, timeouts and 502/503/504 answers. Every key is optional.'
})

export const HealthCheckSchema = Type.Object({
  path: Type.String({ minLength: 1, description: 'Path (and query) of the health endpoint of each URL, e.g. /health. A 2xx answer passes.' }),
  interval: Type.Optional(duration('Time between two checks of a URL. Default 5s.')),
  timeout: Type.Optional(duration('How long a check may take, answer included. Default 1s.')),
  healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, description: 'Passing checks in a row that bring a URL back into rotation. Default 2.' })),
  unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, description: 'Failing checks in a row that take a URL out of rotation. Default 3.' }))
}, {
  additionalProperties: false,
  description: 'Active health checks: each URL is polled, and one failing them is out of rotation until it passes again. Default: none (passive ejection by the circuit breaker only).'
})

export const RouteRetrySchema = Type.Object({
  methods: Type.Array(Type.Unsafe<HttpMethod>({ type: 'string', enum: [...ALL_METHODS], description: 'PUT or DELETE.' }), {
    minItems: 1,
    uniqueItems: true,
    description: 'PUT and/or DELETE: the service applies them idempotently, so the gateway may retry them like GET (when the request body was not sent yet).'
  })
}, { additionalProperties: false, description: 'Retry opt-in for PUT and DELETE on this route; GET, HEAD and OPTIONS are always retried by the service\'s retry policy, POST and PATCH never.' })

export const OverloadSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean({ description: 'false: never shed load. Default true.' })),
  maxEventLoopDelay: Type.Optional(duration('Shed load while the mean event loop delay over a sample exceeds this. Default 1s.')),
  maxEventLoopUtilization: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Shed load while the event loop is busy more than this fraction of the time (0 to 1). Default: not watched.' })),
  maxHeapUsed: Type.Optional(size('Shed load while the V8 heap in use exceeds this. Default: not watched.')),
  maxRss: Type.Optional(size('Shed load while the resident set size exceeds this. Default: not watched.')),
  sampleInterval: Type.Optional(duration('How often the figures are sampled; at least 100ms. Default 1s.')),
  retryAfter: Type.Optional(duration('Retry-After sent with the 503, rounded up to whole seconds. Default 10s.'))
}, {
  additionalProperties: false,
  description: 'Load shedding (@fastify/under-pressure): while a threshold is exceeded, every request except /health gets 503 with Retry-After, and /ready answers 503. Every key is optional.'
})

export type RawRetry = Static<typeof RetrySchema>
export type RawCircuitBreaker = Static<typeof CircuitBreakerSchema>
export type RawHealthCheck = Static<typeof HealthCheckSchema>
export type RawRouteRetry = Static<typeof RouteRetrySchema>
export type RawOverload = Static<typeof OverloadSchema>

// ---- cross-checks -----------------------------------------------------------------

/** Checks the resilience blocks of one service (`services.<name>`). */
export function checkServiceResilience (service: Record<string, unknown>, at: PathSegment[], issues: ConfigIssue[]): void {
  if (isObject(service.retry)) checkRetry(service.retry, parseDuration(service.timeout) ?? DEFAULT_SERVICE_TIMEOUT_MS, [...at, 'retry'], issues)
  if (isObject(service.circuitBreaker)) {
    const breaker = service.circuitBreaker
    for (const key of ['window', 'coolDown'] as const) checkDuration(breaker[key], [...at, 'circuitBreaker', key], issues)
  }
  if (isObject(service.health)) checkHealth(service.health, [...at, 'health'], issues)
}

/** The service `timeout` default (schema.ts), the default of retry.deadline. */
const DEFAULT_SERVICE_TIMEOUT_MS = 30_000

function checkRetry (retry: Record<string, unknown>, serviceTimeoutMs: number, at: PathSegment[], issues: ConfigIssue[]): void {
  for (const key of ['backoff', 'maxBackoff', 'tryTimeout', 'deadline'] as const) checkDuration(retry[key], [...at, key], issues)
  if (isObject(retry.budget)) checkDuration(retry.budget.window, [...at, 'budget', 'window'], issues)
  const ms = (value: unknown): number | undefined => {
    const parsed = parseDuration(value)
    return parsed !== undefined && parsed > 0 ? parsed : undefined
  }
  const backoff = retry.backoff === undefined ? RETRY_DEFAULTS.backoffMs : ms(retry.backoff)
  const maxBackoff = retry.maxBackoff === undefined ? RETRY_DEFAULTS.maxBackoffMs : ms(retry.maxBackoff)
  if (backoff !== undefined && maxBackoff !== undefined && maxBackoff < backoff) {
    issues.push({ path: formatPath([...at, retry.maxBackoff === undefined ? 'backoff' : 'maxBackoff']), message: `maxBackoff (${maxBackoff} ms${retry.maxBackoff === undefined ? ', the default' : ''}) must be at least backoff (${backoff} ms)` })
  }
  const tryTimeout = ms(retry.tryTimeout)
  const deadline = ms(retry.deadline)
  if (tryTimeout !== undefined && tryTimeout > serviceTimeoutMs) {
    issues.push({ path: formatPath([...at, 'tryTimeout']), message: `must not exceed the service timeout (${serviceTimeoutMs} ms), which bounds every try already; lower it, or raise timeout` })
  } else if (tryTimeout !== undefined && deadline !== undefined && tryTimeout > deadline) {
    issues.push({ path: formatPath([...at, 'tryTimeout']), message: `must not exceed retry.deadline (${deadline} ms); one try cannot outlast all of them` })
  }
}

function checkHealth (health: Record<string, unknown>, at: PathSegment[], issues: ConfigIssue[]): void {
  for (const key of ['interval', 'timeout'] as const) checkDuration(health[key], [...at, key], issues)
  if (typeof health.path === 'string' && health.path !== '') {
    if (!health.path.startsWith('/')) {
      issues.push({ path: formatPath([...at, 'path']), message: `must start with "/" (found ${JSON.stringify(health.path)}); write ${JSON.stringify('/' + health.path)}` })
    } else if (health.path.includes('#')) {
      issues.push({ path: formatPath([...at, 'path']), message: `must not contain "#" (found ${JSON.stringify(health.path)}); a fragment is never sent to a server` })
    }
  }
  const interval = health.interval === undefined ? HEALTH_CHECK_DEFAULTS.intervalMs : parseDuration(health.interval)
  const timeout = health.timeout === undefined ? HEALTH_CHECK_DEFAULTS.timeoutMs : parseDuration(health.timeout)
  if (interval !== undefined && timeout !== undefined && interval > 0 && timeout > 0 && timeout > interval) {
    const byDefault = (key: string): string => health[key] === undefined ? ', the default' : ''
    issues.push({ path: formatPath([...at, health.timeout === undefined ? 'interval' : 'timeout']), message: `timeout (${timeout} ms${byDefault('timeout')}) must not exceed interval (${interval} ms${byDefault('interval')}): a check would still run when the next one starts` })
  }
}

/** Checks the `retry:` block of proxy routes against the route's methods and its service. */
export function checkRouteRetries (routes: unknown, services: unknown, issues: ConfigIssue[]): void {
  if (!Array.isArray(routes)) return
  routes.forEach((route: unknown, index) => {
    if (!isObject(route) || !Object.hasOwn(route, 'proxy') || !isObject(route.retry)) return
    const at = (...more: PathSegment[]): string => formatPath(['routes', index, 'retry', ...more])
    const routeMethods = Array.isArray(route.methods) ? route.methods.filter((m): m is string => typeof m === 'string') : undefined
    if (Array.isArray(route.retry.methods)) {
      route.retry.methods.forEach((method: unknown, i) => {
        if (typeof method !== 'string' || !ALL_METHODS.includes(method as HttpMethod)) return
        if (ALWAYS_RETRYABLE.includes(method as HttpMethod)) {
          issues.push({ path: at('methods', i), message: `${method} is always retried (when the service's retry.attempts is above 1); list only PUT or DELETE here` })
        } else if (!OPT_IN_RETRYABLE.includes(method as HttpMethod)) {
          issues.push({ path: at('methods', i), message: `${method} is never retried by the proxy: the service may have applied the first try; a write route's outbox retries writes with idempotency keys` })
        } else if (routeMethods !== undefined && !routeMethods.includes(method)) {
          issues.push({ path: at('methods', i), message: `${method} is not among this route's methods (${routeMethods.join(', ')}); add it to methods or remove it here` })
        }
      })
    }
    const service = isObject(services) && typeof route.service === 'string' && Object.hasOwn(services, route.service) ? services[route.service] : undefined
    if (isObject(service) && isObject(service.retry) && service.retry.attempts === 1) {
      issues.push({ path: at(), message: `service ${JSON.stringify(route.service)} has retry.attempts: 1, so nothing is retried; raise it or remove this block` })
    }
  })
}

/** Checks `server.overload`. */
export function checkOverload (overload: unknown, issues: ConfigIssue[]): void {
  if (!isObject(overload)) return
  const at = (key: string): PathSegment[] => ['server', 'overload', key]
  for (const key of ['maxEventLoopDelay', 'sampleInterval', 'retryAfter'] as const) checkDuration(overload[key], at(key), issues)
  for (const key of ['maxHeapUsed', 'maxRss'] as const) checkSize(overload[key], at(key), issues)
  const sample = parseDuration(overload.sampleInterval)
  // @fastify/under-pressure measures the event loop delay every 10 ms, and reads a sample
  // without a single measurement as an infinite delay: a sample needs several of them.
  if (sample !== undefined && sample > 0 && sample < 100) {
    issues.push({ path: formatPath(at('sampleInterval')), message: `must be at least 100ms (found ${JSON.stringify(overload.sampleInterval)}): the event loop delay is measured every 10 ms, and a sample needs several measurements` })
  }
}

// ---- normalisers ------------------------------------------------------------------

export function normaliseRetry (raw: RawRetry | undefined): RetryConfig {
  if (raw === undefined) return RETRY_DEFAULTS
  const budget = raw.budget ?? {}
  return {
    attempts: raw.attempts ?? RETRY_DEFAULTS.attempts,
    backoffMs: ms(raw.backoff) ?? RETRY_DEFAULTS.backoffMs,
    maxBackoffMs: ms(raw.maxBackoff) ?? RETRY_DEFAULTS.maxBackoffMs,
    tryTimeoutMs: ms(raw.tryTimeout),
    deadlineMs: ms(raw.deadline),
    budget: {
      ratio: budget.ratio ?? RETRY_DEFAULTS.budget.ratio,
      minRetries: budget.minRetries ?? RETRY_DEFAULTS.budget.minRetries,
      windowMs: ms(budget.window) ?? RETRY_DEFAULTS.budget.windowMs
    }
  }
}

/** undefined when the breaker is disabled. */
export function normaliseCircuitBreaker (raw: RawCircuitBreaker | undefined): CircuitBreakerConfig | undefined {
  if (raw === undefined) return CIRCUIT_BREAKER_DEFAULTS
  if (raw.enabled === false) return undefined
  return {
    consecutiveFailures: raw.consecutiveFailures ?? CIRCUIT_BREAKER_DEFAULTS.consecutiveFailures,
    failureRate: raw.failureRate ?? CIRCUIT_BREAKER_DEFAULTS.failureRate,
    windowMs: ms(raw.window) ?? CIRCUIT_BREAKER_DEFAULTS.windowMs,
    minimumRps: raw.minimumRps ?? CIRCUIT_BREAKER_DEFAULTS.minimumRps,
    coolDownMs: ms(raw.coolDown) ?? CIRCUIT_BREAKER_DEFAULTS.coolDownMs
  }
}

/** undefined when the service has no `health` block (no active checks). */
export function normaliseHealthCheck (raw: RawHealthCheck | undefined): HealthCheckConfig | undefined {
  if (raw === undefined) return undefined
  return {
    path: raw.path,
    intervalMs: ms(raw.interval) ?? HEALTH_CHECK_DEFAULTS.intervalMs,
    timeoutMs: ms(raw.timeout) ?? HEALTH_CHECK_DEFAULTS.timeoutMs,
    healthyThreshold: raw.healthyThreshold ?? HEALTH_CHECK_DEFAULTS.healthyThreshold,
    unhealthyThreshold: raw.unhealthyThreshold ?? HEALTH_CHECK_DEFAULTS.unhealthyThreshold
  }
}

/** The methods a proxy route retries: the safe ones plus its opt-ins, among those it accepts. */
export function normaliseRouteRetry (raw: RawRouteRetry | undefined, routeMethods: readonly HttpMethod[]): HttpMethod[] {
  const retried = [...ALWAYS_RETRYABLE, ...(raw?.methods ?? []).filter(m => OPT_IN_RETRYABLE.includes(m))]
  return routeMethods.filter(m => retried.includes(m))
}

/** undefined when load shedding is disabled. */
export function normaliseOverload (raw: RawOverload | undefined): OverloadConfig | undefined {
  if (raw === undefined) return OVERLOAD_DEFAULTS
  if (raw.enabled === false) return undefined
  const retryAfterMs = ms(raw.retryAfter)
  return {
    maxEventLoopDelayMs: ms(raw.maxEventLoopDelay) ?? OVERLOAD_DEFAULTS.maxEventLoopDelayMs,
    maxEventLoopUtilization: raw.maxEventLoopUtilization ?? OVERLOAD_DEFAULTS.maxEventLoopUtilization,
    maxHeapUsedBytes: bytes(raw.maxHeapUsed) ?? OVERLOAD_DEFAULTS.maxHeapUsedBytes,
    maxRssBytes: bytes(raw.maxRss) ?? OVERLOAD_DEFAULTS.maxRssBytes,
    sampleIntervalMs: ms(raw.sampleInterval) ?? OVERLOAD_DEFAULTS.sampleIntervalMs,
    retryAfterSec: retryAfterMs === undefined ? OVERLOAD_DEFAULTS.retryAfterSec : Math.ceil(retryAfterMs / 1000)
  }
}

// Values reaching the normaliser passed cross-check; failing here is a bug in this module, not in the config.
function ms (value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined
  const parsed = parseDuration(value)
  if (parsed === undefined) throw new Error(`internal: unchecked duration ${JSON.stringify(value)}`)
  return parsed
}

function bytes (value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined
  const parsed = parseSize(value)
  if (parsed === undefined) throw new Error(`internal: unchecked size ${JSON.stringify(value)}`)
  return parsed
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
