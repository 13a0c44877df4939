/**
 * One delivery attempt: one HTTP request to the dependent through its keep-alive pool,
 * bounded by a per-attempt timeout. Never throws for what the network or the dependent
 * does; the result says what happened and retry-policy.ts decides what it means.
 */
import type { ServicePool } from '../upstream/service-pool.js'
import { upstreamError } from '../upstream/error-map.js'
import type { DeliveryRequest } from './types.js'
import { parseRetryAfter } from './retry-policy.js'

export const DEFAULT_VERSION_HEADER = 'X-Entity-Version'
const ABANDONED = 'abandoned: the outbox was closing'
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

export function deliveryHeaders (request: DeliveryRequest): Record<string, string> {
  const headers: Record<string, string> = {
    [(request.versionHeader ?? DEFAULT_VERSION_HEADER).toLowerCase()]: String(request.version),
    'idempotency-key': idempotencyKey(request)
  }
  if (request.body !== undefined) headers['content-type'] = 'application/json'
  return headers
}

export async function attemptDelivery (service: ServicePool, request: DeliveryRequest,
  opts: { timeoutMs: number, signal?: AbortSignal }): Promise<AttemptResult> {
  // One controller, a plain timer and a listener on the closing signal, rather than
  // AbortSignal.timeout() + AbortSignal.any(): those allocate weak references and
  // registries per call, which showed in profiles at thousands of deliveries a second.
  const closing = opts.signal
  const abandoned = (): boolean => closing?.aborted === true
  if (abandoned()) return { body: ABANDONED, error: ABANDONED }
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, opts.timeoutMs)
  const onClosing = (): void => { controller.abort() }
  closing?.addEventListener('abort', onClosing, { once: true })
  try {
    const res = await service.pick().pool.request({
      method: request.method,
      path: request.path,
      headers: deliveryHeaders(request),
      body: request.body,
      signal: controller.signal
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      const buf = chunk as Buffer
      chunks.push(buf)
      size += buf.length
      // Leaving the loop destroys the rest of a large answer (and its connection): we
      // only keep an excerpt, and reading megabytes of an error page helps nobody.
      if (size >= BODY_EXCERPT_BYTES) break
    }
    const body = chunks.length === 0 ? '' : Buffer.concat(chunks).subarray(0, BODY_EXCERPT_BYTES).toString('utf8')
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
    return retryAfterMs === undefined ? { status: res.statusCode, body } : { status: res.statusCode, body, retryAfterMs }
  } catch (err) {
    const error = timedOut
      ? `no complete answer from service "${service.name}" within ${opts.timeoutMs} ms`
      : abandoned()
        ? ABANDONED
        : `${upstreamError(service.config, err).message} (${(err as Error).message ?? String(err)})`
    return { body: error, error }
  } finally {
    clearTimeout(timer)
    closing?.removeEventListener('abort', onClosing)
  }
}
