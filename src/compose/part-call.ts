/**
 * One GET of a part toward its service, through the service's keep-alive pools (round-robin),
 * with the part's own deadline and body size limit. Never rejects: every way a call can go
 * wrong becomes a CallFailure the executor decides about (required → error, optional →
 * partial). A body that is not JSON, or too big, is a failure of that part, not a crash.
 *
 * Written against undici's dispatch API (a DispatchHandler) rather than `request()`. A part's
 * body is small JSON parsed whole anyway; `request()` wraps every response in a Readable
 * stream and is cancelled through an AbortSignal, and those (with a per-call AbortController,
 * its listeners and a `for await` over the body) were the largest costs of a composed request
 * in the CPU profile. Here the chunks are collected as undici hands them over, one timer
 * bounds the whole call, and cancelling is a method call (./cancellation.ts).
 */
import type { Dispatcher } from 'undici'
import { errors as undiciErrors } from 'undici'
import type { ServicePool } from '../upstream/service-pool.js'
import { upstreamError } from '../upstream/error-map.js'
import { errors } from '../errors.js'
import type { Cancellable, Cancellation } from './cancellation.js'

export type CallFailure =
  | { readonly kind: 'timeout', readonly timeoutMs: number, readonly cause?: unknown }
  | { readonly kind: 'status', readonly status: number }
  /** Everything else: unreachable, reset, not JSON, too large, unresolvable placeholder... */
  | { readonly kind: 'failed', readonly reason: string, readonly cause?: unknown }
  /** The client went away, or a required part failed: the answer is decided already. */
  | { readonly kind: 'aborted' }

export type CallResult =
  /** `text` is the body as received (UTF-8), the JSON text `value` was parsed from. */
  | { readonly ok: true, readonly value: unknown, readonly text: string }
  | { readonly ok: false, readonly failure: CallFailure }

export interface CallOptions {
  readonly path: string
  readonly headers: Record<string, string>
  readonly timeoutMs: number
  readonly maxBodySize: number
  /** The request's scope: cancelling it stops this call. */
  readonly cancellation: Cancellation
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
/**
 * The body of an answer we will not use (an error status, not JSON) is read and dropped so
 * the connection stays reusable, up to this many bytes (undici's `body.dump()` default);
 * past it, closing the connection is cheaper than reading on.
 */
const DRAIN_LIMIT = 128 * 1024
const ABORTED: CallResult = { ok: false, failure: { kind: 'aborted' } }

export async function callPart (service: ServicePool, opts: CallOptions): Promise<CallResult> {
  if (opts.cancellation.cancelled) return ABORTED
  return await new Promise<CallResult>(resolve => {
    // Only URLs in rotation (circuit closed, health check passing; src/upstream/service-pool.ts).
    // Parts are not retried and do not feed the breakers: the proxy path does both.
    const upstream = service.choose()
    if (upstream === undefined) {
      const error = service.outOfRotation()
      service.signals.failed(error.code)
      const reason = error.code === errors.upstreamUnhealthy.code
        ? 'every instance of the service fails its health check'
        : 'the service is failing and out of rotation (circuit open)'
      resolve({ ok: false, failure: { kind: 'failed', reason, cause: error } })
      return
    }
    const call = new PartCall(service, opts, resolve)
    opts.cancellation.register(call)
    upstream.pool.dispatch({
      method: 'GET',
      path: opts.path,
      headers: opts.headers,
      // The part's timeout may be longer than the service's (the pool's default). undici's
      // timeouts are per phase (headers, then between body chunks); the timer in PartCall
      // bounds the whole call.
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs
    }, call)
  })
}

/**
 * The state of one call. It settles (resolves its promise) exactly once: with the parsed
 * body, or with the first failure; what undici reports after that (the rest of a drained
 * body, the error an abort causes) is ignored.
 */
class PartCall implements Dispatcher.DispatchHandler, Cancellable {
  readonly #service: ServicePool
  readonly #opts: CallOptions
  readonly #resolve: (result: CallResult) => void
  readonly #timer: NodeJS.Timeout
  #controller: Dispatcher.DispatchController | undefined
  /** Set once the call must stop; undici is told as soon as it has started the request. */
  #abortReason: Error | undefined
  #settled = false
  /** undici is done with the request (ended or failed). */
  #finished = false
  /** The body is kept (a 2xx JSON answer); otherwise it is drained. */
  #collecting = false
  #chunks: Buffer[] = []
  #size = 0
  readonly #started = performance.now()

  constructor (service: ServicePool, opts: CallOptions, resolve: (result: CallResult) => void) {
    this.#service = service
    this.#opts = opts
    this.#resolve = resolve
    this.#timer = setTimeout(this.#onDeadline, opts.timeoutMs)
  }

  /**
   * The request's answer is decided (client gone, a required part failed). A call that has
   * settled already is only draining a body it will not use: left alone, its connection
   * stays reusable (the deadline and DRAIN_LIMIT bound it).
   */
  cancel (): void {
    if (this.#settled) return
    this.#settle(ABORTED)
    this.#abort()
  }

  // After settling early (an error status being drained) the deadline still bounds the drain.
  readonly #onDeadline = (): void => {
    if (!this.#settled) this.#service.signals.failed(errors.upstreamTimeout.code)
    this.#settle({ ok: false, failure: { kind: 'timeout', timeoutMs: this.#opts.timeoutMs } })
    this.#abort()
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason)
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return
    if (!this.#settled) this.#service.signals.answered((performance.now() - this.#started) / 1000)
    this.#chunks = []
    this.#size = 0
    this.#collecting = false
    if (this.#settled) return
    const declared = Number(headers['content-length'])
    if (statusCode > 299) {
      this.#settle({ ok: false, failure: { kind: 'status', status: statusCode } })
      if (declared > DRAIN_LIMIT) this.#abort()
      return
    }
    if (statusCode === 204) {
      this.#settle({ ok: true, value: null, text: 'null' })
      return
    }
    const type = headers['content-type']
    const contentType = Array.isArray(type) ? type[0] : type
    if (contentType !== undefined && !JSON_TYPE.test(contentType)) {
      this.#settle({ ok: false, failure: { kind: 'failed', reason: `the body is not JSON (content-type ${JSON.stringify(contentType)})` } })
      if (declared > DRAIN_LIMIT) this.#abort()
      return
    }
    if (declared > this.#opts.maxBodySize) {
      this.#tooLarge()
      return
    }
    this.#collecting = true
  }

  onResponseData (_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#size += chunk.length
    if (!this.#collecting) {
      if (this.#size > DRAIN_LIMIT) this.#abort()
      return
    }
    if (this.#size > this.#opts.maxBodySize) {
      this.#collecting = false
      this.#chunks = []
      this.#tooLarge()
      return
    }
    this.#chunks.push(chunk)
  }

  onResponseEnd (): void {
    this.#finish()
    if (!this.#collecting || this.#settled) return
    const chunks = this.#chunks
    this.#chunks = []
    const text = (chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, this.#size)).toString('utf8')
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      this.#settle({ ok: false, failure: { kind: 'failed', reason: 'the body is not valid JSON', cause: err } })
      return
    }
    this.#settle({ ok: true, value, text })
  }

  onResponseError (_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#finish()
    this.#chunks = []
    // After settling (cancelled, deadline, drained error status) the error is ours, not the service's.
    if (!this.#settled) this.#settle({ ok: false, failure: describe(this.#service, this.#opts.timeoutMs, err) })
  }

  #tooLarge (): void {
    this.#settle({ ok: false, failure: { kind: 'failed', reason: `the body exceeds the part's maxBodySize of ${this.#opts.maxBodySize} bytes` } })
    this.#abort()
  }

  #settle (result: CallResult): void {
    if (this.#settled) return
    this.#settled = true
    this.#resolve(result)
  }

  #finish (): void {
    this.#finished = true
    clearTimeout(this.#timer)
  }

  /** Stops the request; undici then reports an error, which is ignored (the call has settled). */
  #abort (): void {
    if (this.#abortReason !== undefined || this.#finished) return
    const reason = new undiciErrors.RequestAbortedError()
    this.#abortReason = reason
    clearTimeout(this.#timer)
    // Before undici has started the request (queued for a connection), onRequestStart aborts it.
    this.#controller?.abort(reason)
  }
}

/** The proxy's error map decides what happened; the compose error says it about the part. */
function describe (service: ServicePool, timeoutMs: number, err: unknown): CallFailure {
  const mapped = upstreamError(service.config, err)
  service.signals.failed(mapped.code)
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
