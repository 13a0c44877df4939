/**
 * One call to a service through its resilience policy: the proxy (forward.ts) and compose
 * parts share it. It picks a URL in rotation (ServicePool.choose), runs the try through
 * that URL's circuit breaker, and retries a safe call (the caller says whether the method
 * may be retried on its route) after a transport failure or a 502/503/504:
 *
 * - on another URL of the service when there is one in rotation;
 * - after a backoff with full jitter (random below base · 2^n, capped), via cockatiel's
 *   ExponentialBackoff, abandoned when the client goes away;
 * - each try waits at most `tryTimeout` for response headers, and no try starts once the
 *   `deadline` (measured from the first try) would be passed;
 * - only while the service's retry budget has room;
 * - only when the request body was not sent yet (TryBody): a streamed body cannot be replayed.
 *
 * When no retry is allowed, the last try's outcome is the result: an upstream's 503 answer
 * is returned as it is, a transport error thrown for the caller to map (error-map.ts).
 * With every URL out of rotation and no try made, it throws the service's 503
 * (circuit open / unhealthy) at once.
 *
 * The common case costs little: one choice in the round-robin, one breaker call, one
 * budget count; nothing else is allocated unless a try fails.
 */
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { BrokenCircuitError, ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel'
import type { Dispatcher } from 'undici'
import { errors } from '../errors.js'
import { isGatewayFailureStatus } from './circuit-breaker.js'
import { isTransportFailure } from './error-map.js'
import type { ServicePool, Upstream } from './service-pool.js'
import { TryBody } from './try-body.js'

export interface UpstreamCall {
  readonly method: Dispatcher.HttpMethod
  /** Path and query string toward the service. */
  readonly path: string
  readonly headers: Record<string, string | string[]>
  /** The request body; a retry resends it only if no byte of it was sent. */
  readonly body: Readable | null
  /** The method may be retried on this route (GET, HEAD, OPTIONS; PUT/DELETE opted in). */
  readonly retryable: boolean
  /** The call's own wait for response headers: per try and in all, unless the service's retry policy says less. Default: the service timeout. */
  readonly timeoutMs?: number
  /** Between body chunks. Default: the service timeout. */
  readonly bodyTimeoutMs?: number
  /** Aborts the call, retries included (the client went away, or the caller's deadline passed). */
  readonly signal?: AbortSignal
}

export interface UpstreamAnswer {
  readonly res: Dispatcher.ResponseData
  /** The URL that answered. */
  readonly upstream: Upstream
}

export async function callUpstream (service: ServicePool, call: UpstreamCall): Promise<UpstreamAnswer> {
  const policy = service.config.retry
  const retries = call.retryable && policy.attempts > 1
  // The first try is made here with as little as possible around it; the retry
  // machinery (retryAfter) only starts once it failed.
  let start = 0
  if (retries) {
    start = Date.now()
    service.budget.recordRequest(start)
  }
  const upstream = service.choose()
  if (upstream === undefined) throw service.outOfRotation()
  const tryBody = retries && call.body !== null ? new TryBody(call.body) : null
  const headersTimeout = retries ? firstTryTimeout(service, call) : call.timeoutMs
  let outcome: Outcome
  try {
    const res = await tryOnce(upstream, call, tryBody ?? call.body, headersTimeout)
    if (!retries || !isGatewayFailureStatus(res.statusCode)) return { res, upstream }
    outcome = { res }
  } catch (err) {
    if (err instanceof BrokenCircuitError) throw service.outOfRotation()
    if (!retries || !isTransportFailure(err) || call.signal?.aborted === true) throw err
    outcome = { err: timeoutNamed(service, err, headersTimeout ?? service.config.timeoutMs) }
  }
  return await retryAfter(service, call, start, { outcome, upstream, body: tryBody })
}

/** undici's own option objects are built per try; the breaker sees the try's promise as is. */
function tryOnce (upstream: Upstream, call: UpstreamCall, body: Readable | null, headersTimeout: number | undefined): Promise<Dispatcher.ResponseData> {
  const options: Dispatcher.RequestOptions = {
    method: call.method,
    path: call.path,
    headers: call.headers,
    body,
    signal: call.signal,
    headersTimeout,
    bodyTimeout: call.bodyTimeoutMs
  }
  const breaker = upstream.breaker
  if (breaker === undefined) return upstream.pool.request(options)
  return breaker.execute(() => upstream.pool.request(options))
}

/** The call's own timeout: the service's unless the caller (a compose part) gave one. */
function callTimeout (service: ServicePool, call: UpstreamCall): number {
  return call.timeoutMs ?? service.config.timeoutMs
}

/** The first try's wait for headers: undefined (the pool's default, the service timeout) unless something shortens it. */
function firstTryTimeout (service: ServicePool, call: UpstreamCall): number | undefined {
  const { tryTimeoutMs, deadlineMs } = service.config.retry
  if (tryTimeoutMs === undefined && deadlineMs === undefined) return call.timeoutMs
  const timeoutMs = callTimeout(service, call)
  return Math.min(tryTimeoutMs ?? timeoutMs, timeoutMs, deadlineMs ?? timeoutMs)
}

type Outcome = { readonly res: Dispatcher.ResponseData } | { readonly err: unknown }
interface Try { readonly outcome: Outcome, readonly upstream: Upstream, readonly body: TryBody | null }

/** After a failed first try (made at `start`): retries while the policy allows, and settles with the last outcome. */
async function retryAfter (service: ServicePool, call: UpstreamCall, start: number, first: Try): Promise<UpstreamAnswer> {
  const policy = service.config.retry
  const timeoutMs = callTimeout(service, call)
  const tryTimeoutMs = Math.min(policy.tryTimeoutMs ?? timeoutMs, timeoutMs)
  const deadline = start + (policy.deadlineMs ?? timeoutMs)
  const tried: Upstream[] = [first.upstream]
  let last = first
  let backoff: IBackoff<unknown> | undefined
  for (let attempt = 1; ; attempt++) {
    backoff = backoff === undefined ? newBackoff(service) : backoff.next(undefined)
    const delay = backoff.duration
    const retry = attempt < policy.attempts &&
      (last.body === null || !last.body.started) &&
      Date.now() + delay < deadline &&
      service.anyInRotation() &&
      // Last: it takes from the budget.
      service.budget.tryRetry()
    if (!retry) return settle(last)
    if ('res' in last.outcome) await last.outcome.res.body.dump().catch(() => {})
    if (delay > 0) await sleep(delay, undefined, call.signal === undefined ? undefined : { signal: call.signal })

    const upstream = service.choose(tried)
    // Out of rotation since the last try (its failure may have opened the circuit): that failure is the answer.
    if (upstream === undefined) return settle(last)
    tried.push(upstream)
    const body = call.body === null ? null : new TryBody(call.body)
    const headersTimeout = Math.max(1, Math.min(tryTimeoutMs, deadline - Date.now()))
    let outcome: Outcome
    try {
      const res = await tryOnce(upstream, call, body, headersTimeout)
      if (!isGatewayFailureStatus(res.statusCode)) return { res, upstream }
      outcome = { res }
    } catch (err) {
      // Lost a race with the breaker (it opened between the choice and the try).
      if (err instanceof BrokenCircuitError) return settle(last)
      if (!isTransportFailure(err) || call.signal?.aborted === true) throw err
      outcome = { err: timeoutNamed(service, err, headersTimeout) }
    }
    last = { outcome, upstream, body }
  }
}

/** The outcome of the last try as the call's result. */
function settle (last: Try): UpstreamAnswer {
  if ('res' in last.outcome) return { res: last.outcome.res, upstream: last.upstream }
  throw last.outcome.err
}

/**
 * The first retry delay; `.next()` yields the following ones. Built per call: the jitter is
 * drawn when it is made. Compose parts (src/compose/part-call.ts) use it too.
 */
export function newBackoff (service: ServicePool): IBackoff<unknown> {
  const { backoffMs, maxBackoffMs } = service.config.retry
  return new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: backoffMs, maxDelay: maxBackoffMs }).next()
}

/** A try that timed out names the time it was given, not the service timeout. */
function timeoutNamed (service: ServicePool, err: unknown, headersTimeoutMs: number): unknown {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'UND_ERR_HEADERS_TIMEOUT' ? errors.upstreamTimeout(service.name, headersTimeoutMs, err) : err
}
