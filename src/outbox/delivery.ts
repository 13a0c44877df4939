/**
 * One delivery attempt: one HTTP request to the dependent through its keep-alive pool,
 * bounded by a per-attempt timeout. Never throws for what the network or the dependent
 * does; the result says what happened and retry-policy.ts decides what it means.
 */
import { bufferedCall, CallAbandonedError, CallTimeoutError } from '../upstream/buffered-call.js'
import type { ServicePool } from '../upstream/service-pool.js'
import { upstreamError } from '../upstream/error-map.js'
import type { DeliveryRequest } from './types.js'
import { parseRetryAfter } from './retry-policy.js'

export const DEFAULT_VERSION_HEADER = 'X-Entity-Version'
/** How much of a dependent's answer is kept for the dead-letter record. */
export const BODY_EXCERPT_BYTES = 2048

export interface AttemptResult {
  /** The dependent's status; absent when no answer came (connect error, reset, timeout). */
  readonly status?: number
  /** The first BODY_EXCERPT_BYTES of the answer (UTF-8), or the transport error's description. */
  readonly body: string
  readonly retryAfterMs?: number
  /** Set when no answer came: why. */
  readonly error?: string
}

/** `<writeId>:<dependent>`: the same on every retry of this delivery, distinct per dependent. */
export function idempotencyKey (request: DeliveryRequest): string {
  return `${request.writeId}:${request.dependent}`
}

/** `trace`: the attempt's span (its traceparent, and the write's tracestate). */
export function deliveryHeaders (request: DeliveryRequest, trace?: { readonly traceparent: string, readonly tracestate: string | undefined }): Record<string, string> {
  const headers: Record<string, string> = {
    [(request.versionHeader ?? DEFAULT_VERSION_HEADER).toLowerCase()]: String(request.version),
    'idempotency-key': idempotencyKey(request)
  }
  if (request.body !== undefined) headers['content-type'] = 'application/json'
  if (trace !== undefined) {
    headers.traceparent = trace.traceparent
    if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate
  }
  if (request.requestId !== undefined) headers['x-request-id'] = request.requestId
  return headers
}

export async function attemptDelivery (service: ServicePool, request: DeliveryRequest,
  opts: { timeoutMs: number, signal?: AbortSignal, trace?: { readonly traceparent: string, readonly tracestate: string | undefined } }): Promise<AttemptResult> {
  const started = performance.now()
  try {
    const res = await bufferedCall(service.pick().pool, {
      method: request.method,
      path: request.path,
      headers: deliveryHeaders(request, opts.trace),
      body: request.body,
      // Only an excerpt is kept: reading megabytes of an error page helps nobody.
      maxBytes: BODY_EXCERPT_BYTES,
      overflow: 'truncate',
      timeoutMs: opts.timeoutMs,
      signal: opts.signal
    })
    service.signals.answered((performance.now() - started) / 1000)
    const body = res.body.toString('utf8')
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
    return retryAfterMs === undefined ? { status: res.status, body } : { status: res.status, body, retryAfterMs }
  } catch (err) {
    if (!(err instanceof CallAbandonedError)) service.signals.failed(err instanceof CallTimeoutError ? 'JUNCTION_UPSTREAM_TIMEOUT' : upstreamError(service.config, err).code)
    const error = err instanceof CallTimeoutError
      ? `no complete answer from service "${service.name}" within ${opts.timeoutMs} ms`
      : err instanceof CallAbandonedError
        ? 'abandoned: the outbox was closing'
        : `${upstreamError(service.config, err).message} (${(err as Error).message ?? String(err)})`
    return { body: error, error }
  }
}
