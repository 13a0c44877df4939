/**
 * The outbox's knobs: the file format (a TypeBox schema, for the config's top-level
 * `outbox:` key), the normalised form the engine takes (milliseconds, counts) and the
 * defaults. Durations follow the config conventions: a string with a unit or an integer
 * of milliseconds.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { parseDuration } from '../config/cross-check.js'

function duration (description: string, fallback: string): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: `${description} A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds. Default ${fallback}.`,
    examples: ['500ms', '2s', '5m'],
    default: fallback
  })
}

export const OutboxOptionsSchema = Type.Object({
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, default: 20, description: 'Delivery attempts before a delivery is dead-lettered. Default 20.' })),
  maxAge: Type.Optional(duration('A delivery still undelivered this long after it was enqueued is dead-lettered.', '24h')),
  baseBackoff: Type.Optional(duration('First retry delay bound; the bound doubles per attempt (full jitter: the delay is random below it).', '500ms')),
  maxBackoff: Type.Optional(duration('Largest retry delay bound.', '5m')),
  maxRetryAfter: Type.Optional(duration('Largest Retry-After a dependent may ask for; longer ones are cut to this.', '1h')),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, default: 64, description: 'Deliveries in flight per dependent in each gateway instance. Default 64.' })),
  attemptTimeout: Type.Optional(duration('How long one delivery attempt may take, answer included.', '10s')),
  visibilityTimeout: Type.Optional(duration('A delivery held this long by an instance that does not finish it (it crashed) is reclaimed by another. Must exceed attemptTimeout.', '30s')),
  pollInterval: Type.Optional(duration('How often an idle worker looks for due retries and reclaimable deliveries (new deliveries wake it at once).', '1s')),
  latestRetention: Type.Optional(duration('How long the newest enqueued version of an entity is remembered after it last changed (supersession and latestEnqueued).', '30d')),
  closeTimeout: Type.Optional(duration('On shutdown, how long in-flight attempts may finish before they are abandoned (they are retried later).', '5s'))
}, { additionalProperties: false, default: {}, description: 'The durable delivery engine that fans writes out to dependent services.' })

export type RawOutboxOptions = Static<typeof OutboxOptionsSchema>

export interface OutboxOptions {
  readonly maxAttempts: number
  readonly maxAgeMs: number
  readonly baseBackoffMs: number
  readonly maxBackoffMs: number
  readonly maxRetryAfterMs: number
  readonly concurrency: number
  readonly attemptTimeoutMs: number
  readonly visibilityTimeoutMs: number
  readonly pollIntervalMs: number
  readonly latestRetentionMs: number
  readonly closeTimeoutMs: number
}

export const OUTBOX_DEFAULTS: OutboxOptions = Object.freeze({
  maxAttempts: 20,
  maxAgeMs: 24 * 3600_000,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
  maxRetryAfterMs: 3600_000,
  concurrency: 64,
  attemptTimeoutMs: 10_000,
  visibilityTimeoutMs: 30_000,
  pollIntervalMs: 1000,
  latestRetentionMs: 30 * 24 * 3600_000,
  closeTimeoutMs: 5000
})

const DURATION_KEYS = {
  maxAge: 'maxAgeMs',
  baseBackoff: 'baseBackoffMs',
  maxBackoff: 'maxBackoffMs',
  maxRetryAfter: 'maxRetryAfterMs',
  attemptTimeout: 'attemptTimeoutMs',
  visibilityTimeout: 'visibilityTimeoutMs',
  pollInterval: 'pollIntervalMs',
  latestRetention: 'latestRetentionMs',
  closeTimeout: 'closeTimeoutMs'
} as const

/**
 * File form (already schema-valid) → engine form. Throws one Error listing every problem
 * (`outbox.<key>: ...`), for the config loader to report.
 */
export function normaliseOutboxOptions (raw: RawOutboxOptions = {}): OutboxOptions {
  const problems: string[] = []
  const out: { -readonly [K in keyof OutboxOptions]: number } = { ...OUTBOX_DEFAULTS }
  if (raw.maxAttempts !== undefined) out.maxAttempts = raw.maxAttempts
  if (raw.concurrency !== undefined) out.concurrency = raw.concurrency
  for (const [key, target] of Object.entries(DURATION_KEYS) as Array<[keyof typeof DURATION_KEYS, keyof OutboxOptions]>) {
    const value = raw[key]
    if (value === undefined) continue
    const ms = parseDuration(value)
    if (ms === undefined || ms < 0) problems.push(`outbox.${key}: ${JSON.stringify(value)} is not a duration; write e.g. "500ms", "2s", "5m" or an integer of milliseconds`)
    else out[target] = ms
  }
  problems.push(...checkOutboxOptions(out))
  if (problems.length > 0) throw new Error(problems.join('\n'))
  return Object.freeze(out)
}

/** Cross-field rules; also applied to options given in code (see StoreOutbox). */
export function checkOutboxOptions (o: OutboxOptions): string[] {
  const problems: string[] = []
  // An attempt still running when its entry becomes reclaimable could be delivered twice
  // at once, and the per-entity lease (same length) would no longer exclude the other.
  if (o.visibilityTimeoutMs <= o.attemptTimeoutMs) {
    problems.push(`outbox.visibilityTimeout: must exceed outbox.attemptTimeout (${o.attemptTimeoutMs} ms), got ${o.visibilityTimeoutMs} ms`)
  }
  if (o.maxBackoffMs < o.baseBackoffMs) problems.push(`outbox.maxBackoff: must be at least outbox.baseBackoff (${o.baseBackoffMs} ms), got ${o.maxBackoffMs} ms`)
  if (o.pollIntervalMs < 10) problems.push(`outbox.pollInterval: must be at least 10ms, got ${o.pollIntervalMs} ms`)
  if (o.attemptTimeoutMs < 1) problems.push('outbox.attemptTimeout: must be positive')
  return problems
}
