/**
 * What to do after one delivery attempt, as pure functions (no I/O, no clock unless
 * given): classify the dependent's answer, compute the next delay (exponential backoff
 * with full jitter, capped; a Retry-After wins), parse Retry-After.
 */

/** done: the dependent holds this version or newer; retry: try again later; dead: never will work. */
export type AttemptVerdict =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'superseded' }
  | { readonly kind: 'retry' }
  | { readonly kind: 'dead' }

/**
 * 2xx → delivered. 409/412 → the dependent already holds this version or newer, which is
 * what we wanted: superseded (done). 408, 429 and 5xx are transient: retry. Any other
 * answer (other 4xx, 1xx/3xx that undici did not follow) will not change by retrying:
 * dead letter at once, keeping the answer for the operator.
 */
export function classifyStatus (status: number): AttemptVerdict {
  if (status >= 200 && status < 300) return { kind: 'delivered' }
  if (status === 409 || status === 412) return { kind: 'superseded' }
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) return { kind: 'retry' }
  return { kind: 'dead' }
}

export interface BackoffPolicy {
  readonly baseBackoffMs: number
  readonly maxBackoffMs: number
  readonly maxRetryAfterMs: number
}

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): a uniform delay
 * in [0, min(max, base · 2^(attempt-1))). Spreading retries over the whole window is
 * what keeps many deliveries failing together from coming back together.
 * `attempt` is the number of attempts made so far (≥ 1).
 */
export function backoffMs (attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52)
  const cap = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** exponent)
  return Math.floor(random() * cap)
}

/** The delay before the next attempt: the dependent's Retry-After when it gave one (capped), else backoff. */
export function retryDelayMs (attempt: number, retryAfterMs: number | undefined, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs)
  return backoffMs(attempt, policy, random)
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds
 * from `now` (0 for a date in the past), undefined when absent or unparsable.
 */
export function parseRetryAfter (value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim()
  if (text === undefined || text === '') return undefined
  if (/^\d+$/.test(text)) {
    const seconds = Number(text)
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : undefined
  }
  // HTTP-date: IMF-fixdate, or the obsolete RFC 850 / asctime forms Date.parse also reads.
  if (!/[A-Za-z]/.test(text)) return undefined
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}
