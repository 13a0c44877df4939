/**
 * One GET of a part toward its service, through the service's keep-alive pools (round-robin),
 * with the part's own deadline and body size limit, and the service's resilience policy
 * (docs/resilience.md) as the proxy path has it: each try goes through its URL's circuit
 * breaker, and a try that failed in a way that says the URL is at fault (refused, reset,
 * timed out, 502/503/504) is retried, on another URL when there is one, after a jittered
 * backoff, within the retry budget and the part's deadline. Never fails: every way a call
 * can go wrong becomes a CallFailure the executor decides about (required → error, optional
 * → partial). A body that is not JSON, or too big, is a failure of that part, not a crash.
 *
 * Written against undici's dispatch API (a DispatchHandler) rather than `request()`. A part's
 * body is small JSON parsed whole anyway; `request()` wraps every response in a Readable
 * stream and is cancelled through an AbortSignal, and those (with a per-call AbortController,
 * its listeners and a `for await` over the body) were the largest costs of a composed request
 * in the CPU profile. Here the chunks are collected as undici hands them over, one timer
 * bounds each try, and cancelling is a method call (./cancellation.ts). The result is handed
 * to a callback, so that a try that succeeds reaches the executor with no promise layer
 * (cockatiel's included: while the circuit is closed the breaker only counts the outcome).
 * The retry machinery (retryPart) only starts once a first try failed.
 *
 * For a part, a try is the whole exchange (headers and body: the body is read whole before
 * it is used), so `tryTimeout` bounds both, and a failure while the body arrives counts like
 * one before the headers. The part's `timeout` caps `tryTimeout` and `deadline`.
 */
import { isUtf8 } from 'node:buffer'
import { BrokenCircuitError, type IBackoff } from 'cockatiel'
import type { Dispatcher } from 'undici'
import { errors as undiciErrors } from 'undici'
import type { RetryConfig } from '../config/resilience-block.js'
import { isGatewayFailureStatus, type UrlFailure } from '../upstream/circuit-breaker.js'
import { isTransportFailure, upstreamError } from '../upstream/error-map.js'
import type { ServicePool, Upstream } from '../upstream/service-pool.js'
import { newBackoff } from '../upstream/upstream-call.js'
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
  /**
   * `body`: the JSON text `value` was parsed from, as received when it is valid UTF-8 (as
   * RFC 8259 requires), else as decoded (invalid sequences replaced by U+FFFD) and encoded again.
   */
  | { readonly ok: true, readonly value: unknown, readonly body: Buffer }
  | { readonly ok: false, readonly failure: CallFailure }

export interface CallOptions {
  readonly path: string
  readonly headers: Record<string, string>
  /** The part's timeout: it bounds the call as a whole, retries included. */
  readonly timeoutMs: number
  readonly maxBodySize: number
  /** The request's scope: cancelling it stops this call. */
  readonly cancellation: Cancellation
}

/** A try's result; a failure of the URL (counted by its breaker, and retryable) is marked. */
type TryResult = CallResult | (UrlFailure & { readonly ok: false, readonly failure: CallFailure })

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
/**
 * The body of an answer we will not use (an error status, not JSON) is read and dropped so
 * the connection stays reusable, up to this many bytes (undici's `body.dump()` default);
 * past it, closing the connection is cheaper than reading on.
 */
const DRAIN_LIMIT = 128 * 1024
const ABORTED: CallResult = { ok: false, failure: { kind: 'aborted' } }
/** The body of a 204: no content, the JSON value null. */
const NULL_BODY = Buffer.from('null')
/**
 * What a cancelled try rejects with when it goes through cockatiel (not an Error: nothing
 * is thrown to a user, and no stack is captured): the breaker leaves it uncounted, as the
 * proxy's client aborts are, where resolving would count it as a success.
 */
const CANCELLED = Object.freeze({ cancelled: true })
/** A try its circuit did not admit (cockatiel's BrokenCircuitError). */
const REFUSED: unique symbol = Symbol('refused')

/** What a call's caller is handed, exactly once. */
export type CallDone = (result: CallResult) => void

/**
 * Makes the call; `done` gets its result, exactly once: synchronously when the call cannot
 * start (cancelled, every URL out of rotation), else when the last try has settled, from
 * within undici's callback. A callback rather than a promise: a part's result then reaches
 * the executor with no promise in between (each layer was a promise and a microtask per
 * part); only a retry, rare, goes through promises.
 */
export function callPart (service: ServicePool, opts: CallOptions, done: CallDone): void {
  if (opts.cancellation.cancelled) {
    done(ABORTED)
    return
  }
  const policy = service.config.retry
  const retries = policy.attempts > 1
  let start = 0
  if (retries) {
    start = Date.now()
    service.budget.recordRequest(start)
  }
  // Only URLs in rotation (circuit closed, health check passing; src/upstream/service-pool.ts).
  const upstream = service.choose()
  if (upstream === undefined) {
    done(outOfRotation(service))
    return
  }
  const timeoutMs = retries ? Math.min(policy.tryTimeoutMs ?? opts.timeoutMs, span(policy, opts)) : opts.timeoutMs
  tryPart(service, upstream, opts, timeoutMs, timeoutMs, (first) => {
    // Refused by its circuit (it opened between the choice and the try): out of rotation.
    if (first === REFUSED) done(outOfRotation(service))
    else if (!retries || !isUrlFailure(first) || opts.cancellation.cancelled) done(first)
    else retryPart(service, opts, start, upstream, first).then(done, (err: unknown) => { done(junctionFailed(err)) })
  })
}

/** callPart as a promise, for the calls of a collection (several per part, bounded by mapLimit). */
export async function callPartAsync (service: ServicePool, opts: CallOptions): Promise<CallResult> {
  return await new Promise<CallResult>(resolve => { callPart(service, opts, resolve) })
}

/** A try's outcome, or REFUSED when its circuit did not admit it. */
type TryDone = (result: TryResult | typeof REFUSED) => void

/**
 * One try on `upstream`, through its breaker when it has one. While the circuit is closed
 * (nearly always) the try runs as it is and its outcome is counted on the breaker as it
 * settles (UpstreamBreaker.counted: a result marked `urlFailed` as a failure, any other as
 * a success), as the proxy's tries are; in any other state (the half-open probe, an open
 * circuit) the try goes through cockatiel's `execute`. A cancelled try is never counted.
 */
function tryPart (service: ServicePool, upstream: Upstream, opts: CallOptions, timeoutMs: number, namedMs: number, done: TryDone): void {
  const breaker = upstream.breaker
  if (breaker === undefined) {
    dispatchTry(service, upstream, opts, timeoutMs, namedMs, done)
    return
  }
  if (breaker.closed) {
    dispatchTry(service, upstream, opts, timeoutMs, namedMs, (result) => {
      if (result === ABORTED) {
        done(result)
        return
      }
      const counted = breaker.counted(result)
      if (counted instanceof Promise) counted.then(done, (err: unknown) => { done(junctionFailed(err)) })
      else done(counted)
    })
    return
  }
  breaker.execute(() => new Promise<TryResult>((resolve, reject) => {
    // Rejected, not resolved, when cancelled: cockatiel then leaves it uncounted.
    dispatchTry(service, upstream, opts, timeoutMs, namedMs, (result) => { if (result === ABORTED) reject(CANCELLED); else resolve(result) })
  })).then(done, (err: unknown) => {
    done(err === CANCELLED ? ABORTED : err instanceof BrokenCircuitError ? REFUSED : junctionFailed(err))
  })
}

function dispatchTry (service: ServicePool, upstream: Upstream, opts: CallOptions, timeoutMs: number, namedMs: number, done: (result: TryResult) => void): void {
  const call = new PartCall(service, opts, timeoutMs, namedMs, done)
  opts.cancellation.register(call)
  upstream.pool.dispatch({
    method: 'GET',
    path: opts.path,
    headers: opts.headers,
    // The part's timeout may be longer than the service's (the pool's default). undici's
    // timeouts are per phase (headers, then between body chunks); the timer in PartCall
    // bounds the whole try. The same value on every try keeps undici re-arming its timer
    // rather than making a new one.
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs
  }, call)
}

/**
 * After a failed first try (made at `start`): retries while the policy allows it, and
 * answers with the last try's result. The same rules as the proxy's (upstream-call.ts):
 * another URL when there is one in rotation, a full-jitter backoff, no retry whose backoff
 * ends past the deadline, and each retry taken from the service's budget.
 */
async function retryPart (service: ServicePool, opts: CallOptions, start: number, first: Upstream, firstResult: TryResult): Promise<CallResult> {
  const policy = service.config.retry
  const end = start + span(policy, opts)
  const tryTimeoutMs = Math.min(policy.tryTimeoutMs ?? opts.timeoutMs, opts.timeoutMs)
  const tried: Upstream[] = [first]
  let last = firstResult
  let backoff: IBackoff<unknown> | undefined
  for (let attempt = 1; attempt < policy.attempts; attempt++) {
    backoff = backoff === undefined ? newBackoff(service) : backoff.next(undefined)
    const delay = backoff.duration
    const retry = Date.now() + delay < end &&
      service.anyInRotation() &&
      // Last: it takes from the budget.
      service.budget.tryRetry()
    if (!retry) return last
    if (delay > 0) await pause(delay, opts.cancellation)
    if (opts.cancellation.cancelled) return ABORTED
    const upstream = service.choose(tried)
    // Out of rotation since the last try (its failure may have opened the circuit): that failure is the answer.
    if (upstream === undefined) return last
    tried.push(upstream)
    const left = end - Date.now()
    // A try cut short by the deadline names the part's limit when it times out, not what was left of it.
    const timeoutMs = Math.max(1, Math.min(tryTimeoutMs, left))
    const namedMs = tryTimeoutMs < left ? tryTimeoutMs : span(policy, opts)
    const result = await new Promise<TryResult | typeof REFUSED>(resolve => { tryPart(service, upstream, opts, timeoutMs, namedMs, resolve) })
    // Lost a race with the breaker (it opened between the choice and the try): the last failure stands.
    if (result === REFUSED) return last
    if (!isUrlFailure(result) || opts.cancellation.cancelled) return result
    last = result
  }
  return last
}

/** How long all tries together may take: the service's retry deadline, capped by the part's timeout. */
function span (policy: RetryConfig, opts: CallOptions): number {
  return Math.min(policy.deadlineMs ?? opts.timeoutMs, opts.timeoutMs)
}

function isUrlFailure (result: TryResult): boolean {
  return !result.ok && 'urlFailed' in result
}

/** Junction's own bug, met while calling: the part fails with it (the executor logs the cause). */
function junctionFailed (err: unknown): CallResult {
  return { ok: false, failure: { kind: 'failed', reason: 'Junction failed while composing it', cause: err } }
}

function outOfRotation (service: ServicePool): CallResult {
  const error = service.outOfRotation()
  service.signals.failed(error.code)
  const reason = error.code === errors.upstreamUnhealthy.code
    ? 'every instance of the service fails its health check'
    : 'the service is failing and out of rotation (circuit open)'
  return { ok: false, failure: { kind: 'failed', reason, cause: error } }
}

/** A backoff wait that the request's cancellation ends early. Only retries pay for it. */
async function pause (ms: number, cancellation: Cancellation): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(resolve, ms)
    cancellation.register({ cancel () { clearTimeout(timer); resolve() } })
  })
}

/**
 * The state of one try. It settles (hands its result to `done`; ABORTED when cancelled)
 * exactly once: with the parsed body, or with the first failure; what undici reports after
 * that (the rest of a drained body, the error an abort causes) is ignored. A 502/503/504 is
 * settled once its body is drained, so that a retry finds the connection free again.
 */
class PartCall implements Dispatcher.DispatchHandler, Cancellable {
  readonly #service: ServicePool
  readonly #opts: CallOptions
  /** What a timeout names: the try's own limit, or the part's when the deadline cut it. */
  readonly #namedMs: number
  /** Gets the result, exactly once; ABORTED when cancelled. */
  readonly #done: (result: TryResult) => void
  readonly #timer: NodeJS.Timeout
  #controller: Dispatcher.DispatchController | undefined
  /** Set once the call must stop; undici is told as soon as it has started the request. */
  #abortReason: Error | undefined
  #settled = false
  /** A gateway-failure answer whose body is being drained: the result once it is. */
  #pending: TryResult | undefined
  /** undici is done with the request (ended or failed). */
  #finished = false
  /** The body is kept (a 2xx JSON answer); otherwise it is drained. */
  #collecting = false
  /**
   * The body so far: its first chunk alone (a part's body usually comes in one), an array
   * only from the second on.
   */
  #first: Buffer | undefined
  #more: Buffer[] | undefined
  #size = 0
  readonly #started = performance.now()

  constructor (service: ServicePool, opts: CallOptions, timeoutMs: number, namedMs: number, done: (result: TryResult) => void) {
    this.#service = service
    this.#opts = opts
    this.#namedMs = namedMs
    this.#done = done
    this.#timer = setTimeout(this.#onDeadline, timeoutMs)
  }

  /**
   * The request's answer is decided (client gone, a required part failed). A try that has
   * its result already is only draining a body it will not use: left alone, its connection
   * stays reusable (the deadline and DRAIN_LIMIT bound it).
   */
  cancel (): void {
    if (this.#settled) return
    if (this.#pending !== undefined) {
      this.#settle(this.#pending)
      return
    }
    this.#settle(ABORTED)
    this.#abort()
  }

  // After settling early (an error status being drained) the deadline still bounds the drain.
  readonly #onDeadline = (): void => {
    if (!this.#settled) this.#service.signals.failed(errors.upstreamTimeout.code)
    this.#settle(this.#pending ?? { ok: false, failure: { kind: 'timeout', timeoutMs: this.#namedMs }, urlFailed: true })
    this.#abort()
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason)
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return
    if (!this.#settled) this.#service.signals.answered((performance.now() - this.#started) / 1000)
    this.#first = undefined
    this.#more = undefined
    this.#size = 0
    this.#collecting = false
    if (this.#settled) return
    const declared = Number(headers['content-length'])
    if (statusCode > 299) {
      if (isGatewayFailureStatus(statusCode)) this.#pending = { ok: false, failure: { kind: 'status', status: statusCode }, urlFailed: true }
      else this.#settle({ ok: false, failure: { kind: 'status', status: statusCode } })
      if (declared > DRAIN_LIMIT) this.#abort()
      return
    }
    if (statusCode === 204) {
      this.#settle({ ok: true, value: null, body: NULL_BODY })
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
      this.#first = undefined
      this.#more = undefined
      this.#tooLarge()
      return
    }
    if (this.#first === undefined) this.#first = chunk
    else if (this.#more === undefined) this.#more = [this.#first, chunk]
    else this.#more.push(chunk)
  }

  onResponseEnd (): void {
    this.#finish()
    if (this.#pending !== undefined) this.#settle(this.#pending)
    if (!this.#collecting || this.#settled) return
    const bytes = this.#more !== undefined ? Buffer.concat(this.#more, this.#size) : this.#first ?? Buffer.alloc(0)
    this.#first = undefined
    this.#more = undefined
    const text = bytes.toString('utf8')
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      this.#settle({ ok: false, failure: { kind: 'failed', reason: 'the body is not valid JSON', cause: err } })
      return
    }
    this.#settle({ ok: true, value, body: isUtf8(bytes) ? bytes : Buffer.from(text) })
  }

  onResponseError (_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#finish()
    this.#first = undefined
    this.#more = undefined
    if (this.#settled) return
    const failure = describe(this.#service, this.#namedMs, err)
    // A drain cut short (past DRAIN_LIMIT, or the connection dropped) still answers with the status.
    this.#settle(this.#pending ?? (isTransportFailure(err) ? { ok: false, failure, urlFailed: true } : { ok: false, failure }))
  }

  #tooLarge (): void {
    this.#settle({ ok: false, failure: { kind: 'failed', reason: `the body exceeds the part's maxBodySize of ${this.#opts.maxBodySize} bytes` } })
    this.#abort()
  }

  #settle (result: TryResult): void {
    if (this.#settled) return
    this.#settled = true
    this.#done(result)
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
    // A drain given up: the status is the result (whatever undici reports next is ignored).
    if (this.#pending !== undefined) this.#settle(this.#pending)
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
