/**
 * `rateLimit:` blocks: on a route, and at the top level as the default of every route that
 * has none (`rateLimit: false` on a route turns the default off there).
 *
 *   rateLimit: { max: 100, window: 1m, key: sub }
 *
 * Fixed windows per route and per client key, counted in Redis when the store is Redis (so
 * the limit holds across instances) and in process memory otherwise (docs/security.md).
 */
import { Type, type Static } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'
import { checkDuration, parseDuration } from './units.js'

/** Who is counted: the client address, the authenticated subject, or the API key. */
export const RATE_LIMIT_KEYS = ['ip', 'sub', 'apiKey'] as const
export type RateLimitKey = typeof RATE_LIMIT_KEYS[number]

const properties = {
  max: Type.Integer({ minimum: 1, description: 'Requests one client may make per window on this route; the next ones get 429 until the window ends.' }),
  window: Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: 'The length of a window. A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.',
    examples: ['1s', '1m', '1h']
  }),
  key: Type.Optional(Type.Unsafe<RateLimitKey>({
    type: 'string',
    enum: [...RATE_LIMIT_KEYS],
    description: 'Who is counted: "ip" (the client address; with server.trustProxy, from X-Forwarded-For), "sub" (the authenticated subject: a JWT\'s sub, an API key\'s subject) or "apiKey" (each API key). A request without a subject is counted by address. Default ip.'
  }))
}

const DESCRIPTION = 'Rate limit: { max, window, key }, e.g. { max: 100, window: 1m, key: sub }. Counted per route and per client key; in Redis when the store is Redis.'

export const RateLimitSchema = Type.Object(properties, { additionalProperties: false, description: DESCRIPTION })

export type RawRateLimit = Static<typeof RateLimitSchema>

/** On a route: a limit, or `false` to turn the top-level default off for it. */
export const RouteRateLimitSchema = Type.Unsafe<RawRateLimit | boolean>({
  type: ['object', 'boolean'],
  properties,
  required: ['max', 'window'],
  additionalProperties: false,
  description: `${DESCRIPTION} false: no limit on this route, despite a top-level rateLimit.`
})

export interface RateLimitConfig {
  readonly max: number
  readonly windowMs: number
  readonly key: RateLimitKey
}

/** Checks a `rateLimit:` value (top level or a route's); wrong types are the validator's to report. */
export function checkRateLimit (value: unknown, path: PathSegment[], issues: ConfigIssue[]): void {
  if (value === true) {
    issues.push({ path: formatPath(path), message: 'true is not a limit; write one, e.g. { max: 100, window: 1m }, or false to turn the top-level rateLimit off on this route' })
    return
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return
  checkDuration((value as Record<string, unknown>).window, [...path, 'window'], issues)
}

export function normaliseRateLimit (raw: RawRateLimit): RateLimitConfig {
  const windowMs = parseDuration(raw.window)
  if (windowMs === undefined) throw new Error(`internal: unchecked rate-limit window ${JSON.stringify(raw.window)}`)
  return { max: raw.max, windowMs, key: raw.key ?? 'ip' }
}
