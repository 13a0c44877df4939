/**
 * Forwards one HTTP request to a service and hands back the streaming response.
 * Plain TypeScript over undici (no Fastify), through the service's resilience policy
 * (upstream-call.ts: rotation, circuit breakers, retries of safe methods). Bodies stream
 * in both directions; nothing is buffered.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { pipeline, type Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { errors, JunctionError } from '../errors.js'
import { BodyLimit } from './body-limit.js'
import type { CallSignal } from './client-gone.js'
import { upstreamError } from './error-map.js'
import { clientResponseHeaders } from './headers.js'
import type { ServicePool } from './service-pool.js'
import { callUpstream } from './upstream-call.js'

export interface ForwardRequest {
  readonly method: Dispatcher.HttpMethod
  /** Path and query string toward the service. */
  readonly path: string
  readonly headers: Record<string, string | string[]>
  /** The client's body, when the request has one. */
  readonly body: Readable | undefined
  /** Bytes the body may have; crossing it fails the request with 413. */
  readonly bodyLimit: number
  /** The method may be retried on this route (ProxyRouteConfig.retryMethods). */
  readonly retryable: boolean
  /** Aborts the upstream call (the client went away). */
  readonly signal?: CallSignal
}

export interface ForwardResponse {
  readonly statusCode: number
  readonly headers: OutgoingHttpHeaders
  readonly body: Readable
  /** Origin of the upstream URL that answered (for logs, never for clients). */
  readonly origin: string
}

export async function forward (service: ServicePool, req: ForwardRequest): Promise<ForwardResponse> {
  const declared = req.headers['content-length']
  if (typeof declared === 'string' && Number(declared) > req.bodyLimit) {
    throw errors.bodyTooLarge(req.bodyLimit)
  }

  let body: Readable | undefined
  let bodyError: JunctionError | undefined
  if (req.body !== undefined && typeof declared === 'string') {
    // A declared length was checked above, and Node's HTTP parser delivers exactly that
    // many bytes: the body goes to the service as it is. No counting stream, and no
    // pipeline(): its AbortController per call (aborted at the end, which builds a
    // DOMException with its stack) was the largest single cost of a proxied PUT.
    body = req.body
  } else if (req.body !== undefined) {
    // Chunked: counted as it flows.
    const limiter = new BodyLimit(req.bodyLimit)
    // pipeline() destroys both sides on error; remember a limit error because undici
    // may report it wrapped, or as a socket error on its side.
    pipeline(req.body, limiter, (err) => {
      if (err instanceof JunctionError) bodyError = err
    })
    body = limiter
  }

  const started = performance.now()
  try {
    const { res, upstream } = await callUpstream(service, {
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: body ?? null,
      retryable: req.retryable,
      signal: req.signal
    })
    service.signals.answered((performance.now() - started) / 1000)
    if (res.statusCode < 100 || res.statusCode > 599) {
      // HTTP has no such status (RFC 9110 §15): the service's answer is unusable, a 502.
      res.body.on('error', () => {}) // destroying the body emits an abort error nobody awaits
      res.body.destroy()
      throw errors.upstreamFailed(service.config.name, new Error(`the service answered status ${res.statusCode}`))
    }
    return {
      statusCode: res.statusCode,
      headers: clientResponseHeaders(res.headers),
      body: res.body,
      origin: upstream.origin
    }
  } catch (err) {
    // A body no try sent (every URL out, or failures before sending) is drained, so the
    // client's connection stays usable for its next request.
    if (body !== undefined && !body.destroyed) body.resume()
    if (bodyError !== undefined) throw bodyError
    // Aborted because the client went away: not the service's failure.
    if (req.signal?.aborted === true) throw errors.clientClosed()
    const mapped = upstreamError(service.config, err)
    if (mapped.statusCode >= 500) service.signals.failed(mapped.code)
    throw mapped
  }
}
