/**
 * One GET of a part toward its service, through the service's resilience policy
 * (src/upstream/upstream-call.ts: rotation, circuit breakers, retries), with the part's own
 * deadline and body size limit. Never throws: every way a call can go wrong becomes a
 * CallFailure the executor decides about (required → error, optional → partial). A body
 * that is not JSON, or too big, is a failure of that part, not a crash.
 */
import type { ServicePool } from '../upstream/service-pool.js'
import { upstreamError } from '../upstream/error-map.js'
import { callUpstream } from '../upstream/upstream-call.js'
import { errors } from '../errors.js'

export type CallFailure =
  | { readonly kind: 'timeout', readonly timeoutMs: number, readonly cause?: unknown }
  | { readonly kind: 'status', readonly status: number }
  /** Everything else: unreachable, reset, not JSON, too large, unresolvable placeholder... */
  | { readonly kind: 'failed', readonly reason: string, readonly cause?: unknown }
  /** The client went away, or a required part failed: the answer is decided already. */
  | { readonly kind: 'aborted' }

export type CallResult =
  | { readonly ok: true, readonly value: unknown, readonly etag: string | undefined }
  | { readonly ok: false, readonly failure: CallFailure }

export interface CallOptions {
  readonly path: string
  readonly headers: Record<string, string>
  readonly timeoutMs: number
  readonly maxBodySize: number
  readonly signal: AbortSignal
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

export async function callPart (service: ServicePool, opts: CallOptions): Promise<CallResult> {
  if (opts.signal.aborted) return { ok: false, failure: { kind: 'aborted' } }
  const controller = new AbortController()
  let timedOut = false
  // A deadline on the whole call, body included: undici's own timeouts are per phase.
  const timer = setTimeout(() => { timedOut = true; controller.abort() }, opts.timeoutMs)
  const onAbort = (): void => { controller.abort() }
  opts.signal.addEventListener('abort', onAbort, { once: true })
  try {
    const { res } = await callUpstream(service, {
      method: 'GET',
      path: opts.path,
      headers: opts.headers,
      body: null,
      retryable: true,
      signal: controller.signal,
      // The part's timeout may be longer than the service's (the pool's default).
      timeoutMs: opts.timeoutMs,
      bodyTimeoutMs: opts.timeoutMs
    })
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump()
      return { ok: false, failure: { kind: 'status', status: res.statusCode } }
    }
    const type = res.headers['content-type']
    const contentType = Array.isArray(type) ? type[0] : type
    if (res.statusCode === 204) {
      await res.body.dump()
      return { ok: true, value: null, etag: etagOf(res.headers.etag) }
    }
    if (contentType !== undefined && !JSON_TYPE.test(contentType)) {
      await res.body.dump()
      return { ok: false, failure: { kind: 'failed', reason: `the body is not JSON (content-type ${JSON.stringify(contentType)})` } }
    }
    const declared = Number(res.headers['content-length'])
    if (declared > opts.maxBodySize) {
      res.body.destroy()
      return tooLarge(opts.maxBodySize)
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size > opts.maxBodySize) {
        res.body.destroy()
        return tooLarge(opts.maxBodySize)
      }
      chunks.push(chunk as Buffer)
    }
    let value: unknown
    try {
      value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch (err) {
      return { ok: false, failure: { kind: 'failed', reason: 'the body is not valid JSON', cause: err } }
    }
    return { ok: true, value, etag: etagOf(res.headers.etag) }
  } catch (err) {
    if (timedOut) return { ok: false, failure: { kind: 'timeout', timeoutMs: opts.timeoutMs, cause: err } }
    if (opts.signal.aborted) return { ok: false, failure: { kind: 'aborted' } }
    return { ok: false, failure: describe(service, opts.timeoutMs, err) }
  } finally {
    clearTimeout(timer)
    opts.signal.removeEventListener('abort', onAbort)
  }
}

function tooLarge (limit: number): CallResult {
  return { ok: false, failure: { kind: 'failed', reason: `the body exceeds the part's maxBodySize of ${limit} bytes` } }
}

function etagOf (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The proxy's error map decides what happened; the compose error says it about the part. */
function describe (service: ServicePool, timeoutMs: number, err: unknown): CallFailure {
  const mapped = upstreamError(service.config, err)
  switch (mapped.code) {
    case errors.upstreamTimeout.code:
      return { kind: 'timeout', timeoutMs, cause: err }
    case errors.upstreamConnectTimeout.code:
      return { kind: 'timeout', timeoutMs: service.config.connectTimeoutMs, cause: err }
    case errors.upstreamUnavailable.code:
      return { kind: 'failed', reason: 'the service could not be reached', cause: err }
    case errors.upstreamReset.code:
      return { kind: 'failed', reason: 'the service closed the connection before answering completely', cause: err }
    case errors.upstreamCircuitOpen.code:
      return { kind: 'failed', reason: 'the service is failing and out of rotation (circuit open)', cause: err }
    case errors.upstreamUnhealthy.code:
      return { kind: 'failed', reason: 'every instance of the service fails its health check', cause: err }
    default:
      return { kind: 'failed', reason: 'the call failed', cause: err }
  }
}
