/**
 * The circuit breaker of one upstream URL, on cockatiel's CircuitBreakerPolicy (3.x: the
 * last major that runs on Node 20). It is also the URL's passive health: while its circuit
 * is open the URL is out of the service's round-robin (ServicePool.choose), and when the
 * cool-down is over the next call to it is the half-open probe, whose outcome closes the
 * circuit or opens it for another cool-down.
 *
 * A failure is what says the URL is at fault rather than the request (Envoy's "gateway
 * failure"): a transport failure (error-map.ts) or a 502/503/504 answer. A 500 is not: it
 * is usually one request's bug, and ejecting an instance for it would punish the others.
 */
import {
  CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, SamplingBreaker, circuitBreaker, handleWhen,
  type IBreaker
} from 'cockatiel'
import type { Dispatcher } from 'undici'
import type { CircuitBreakerConfig } from '../config/types.js'
import { isTransportFailure } from './error-map.js'

/** Answers that count as a failure of the URL, and that a safe call may be retried after. */
export function isGatewayFailureStatus (status: number): boolean {
  return status === 502 || status === 503 || status === 504
}

/**
 * What a compose part's try resolves with when it failed in a way that says the URL is at
 * fault (src/compose/part-call.ts): a part's try never rejects, so it marks such outcomes
 * for the breaker instead of throwing.
 */
export interface UrlFailure {
  readonly urlFailed: true
}

/**
 * A try that resolved but failed: undici's answer with a 502/503/504 (the proxy path), or
 * a compose part's outcome marked as a failure of the URL.
 */
function isFailedTry (result: unknown): boolean {
  const { statusCode, urlFailed } = result as Partial<Dispatcher.ResponseData & UrlFailure>
  return urlFailed === true || (statusCode !== undefined && isGatewayFailureStatus(statusCode))
}

/**
 * Opens on whichever trips first: a run of consecutive failures (catches a dead instance
 * at low traffic) or a failure rate over a sliding window (catches a flaky one at high
 * traffic). cockatiel ships both breakers but no way to combine them; IBreaker is its
 * documented extension point. Both are told about every call so their counts stay true.
 */
class ConsecutiveOrRateBreaker implements IBreaker {
  readonly #consecutive: ConsecutiveBreaker
  readonly #rate: SamplingBreaker

  constructor (config: CircuitBreakerConfig) {
    this.#consecutive = new ConsecutiveBreaker(config.consecutiveFailures)
    this.#rate = new SamplingBreaker({ threshold: config.failureRate, duration: config.windowMs, minimumRps: config.minimumRps })
  }

  get state (): unknown {
    return { consecutive: this.#consecutive.state, rate: this.#rate.state }
  }

  set state (value: unknown) {
    const saved = value as { consecutive: number, rate: unknown }
    this.#consecutive.state = saved.consecutive
    this.#rate.state = saved.rate
  }

  success (state: CircuitState): void {
    this.#consecutive.success()
    this.#rate.success(state)
  }

  failure (state: CircuitState): boolean {
    const consecutive = this.#consecutive.failure()
    const rate = this.#rate.failure(state)
    return consecutive || rate
  }
}

export type BreakerState = 'closed' | 'open' | 'half-open'

export class UpstreamBreaker {
  readonly #policy: CircuitBreakerPolicy
  readonly #breaker: ConsecutiveOrRateBreaker
  readonly #coolDownMs: number
  #openedAt = 0

  constructor (config: CircuitBreakerConfig, onChange?: (state: BreakerState) => void) {
    this.#coolDownMs = config.coolDownMs
    const failures = handleWhen(isTransportFailure).orWhenResult(isFailedTry)
    this.#breaker = new ConsecutiveOrRateBreaker(config)
    this.#policy = circuitBreaker(failures, { halfOpenAfter: config.coolDownMs, breaker: this.#breaker })
    // cockatiel keeps when it opened to itself; admits() needs it to know when the probe may go.
    this.#policy.onBreak(() => { this.#openedAt = Date.now() })
    if (onChange !== undefined) this.#policy.onStateChange(state => { onChange(stateName(state)) })
  }

  get state (): BreakerState {
    return stateName(this.#policy.state)
  }

  /**
   * Whether a call may go to this URL now: its circuit is closed, or open with the
   * cool-down over (that call becomes the half-open probe). While the probe is in flight,
   * no other call is admitted.
   */
  admits (): boolean {
    const state = this.#policy.state
    if (state === CircuitState.Closed) return true
    return state === CircuitState.Open && Date.now() - this.#openedAt >= this.#coolDownMs
  }

  /** Milliseconds until a probe may go (0 when the circuit is not open). */
  coolDownLeftMs (): number {
    if (this.#policy.state !== CircuitState.Open) return 0
    return Math.max(0, this.#openedAt + this.#coolDownMs - Date.now())
  }

  /**
   * Runs one call wholly through cockatiel: its error or answer is counted (a compose
   * part's outcome marked `urlFailed` as a failure), and returned or thrown as is. Throws
   * cockatiel's BrokenCircuitError when the circuit does not admit it. While the circuit is
   * closed, request() (the proxy) and `closed` with counted() (compose parts) skip
   * cockatiel's layers.
   */
  execute<T> (call: () => Promise<T>): Promise<T> {
    return this.#policy.execute(call)
  }

  /**
   * Makes one request through the breaker: its error or answer is counted, and returned or
   * thrown as is. Throws cockatiel's BrokenCircuitError when the circuit does not admit it.
   *
   * With the circuit closed (nearly every call) the call runs as it is and only its
   * outcome goes to the breaker: a success is counted on it directly, which is all
   * cockatiel's execute does for one in that state, without its two async layers and
   * result objects per call. A failure is handed to cockatiel's execute, which counts it
   * and opens the circuit when it trips. In any other state (the half-open probe, an open
   * circuit) the whole call goes through cockatiel.
   */
  request (pool: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    if (this.#policy.state !== CircuitState.Closed) return this.#policy.execute(async () => await pool.request(options))
    return pool.request(options).then(this.#answered, this.#failed)
  }

  /**
   * Whether the circuit is closed: a call may then run as it is, its outcome handed to
   * counted() (the closed path of request(), for a caller that is not a promise: a compose
   * part's try, src/compose/part-call.ts). Otherwise calls go through execute().
   */
  get closed (): boolean {
    return this.#policy.state === CircuitState.Closed
  }

  /**
   * Counts the outcome of a call admitted while the circuit was closed, and gives it back:
   * a success at once (counted on the breaker directly), a failure (a 502/503/504 answer,
   * an outcome marked `urlFailed`) once cockatiel has counted it (see #failure).
   */
  counted<T> (result: T): T | Promise<T> {
    if (!isFailedTry(result)) {
      this.#breaker.success(CircuitState.Closed)
      return result
    }
    return this.#failure(async () => result, result)
  }

  // Bound once: the closed path allocates no callback per call.
  readonly #answered = (res: Dispatcher.ResponseData): Dispatcher.ResponseData | Promise<Dispatcher.ResponseData> => this.counted(res)

  readonly #failed = async (err: unknown): Promise<Dispatcher.ResponseData> => {
    // Not the URL's fault (a client abort, a body over the limit): cockatiel leaves these uncounted too.
    if (!isTransportFailure(err)) throw err
    return await this.#failure(async () => { throw err }, undefined)
  }

  /**
   * A failure of a call admitted while the circuit was closed. Still closed: replayed
   * through cockatiel (counted; opens the circuit when it trips). Opened meanwhile by
   * another call: counted only; the circuit already broke and its probe decides what's next.
   */
  async #failure<T> (replay: () => Promise<T>, res: T | undefined): Promise<T> {
    if (this.#policy.state === CircuitState.Closed) return await this.#policy.execute(replay)
    this.#breaker.failure(CircuitState.Closed)
    if (res !== undefined) return res
    return await replay()
  }
}

function stateName (state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed: return 'closed'
    case CircuitState.HalfOpen: return 'half-open'
    // Isolated (held open by hand) is not used by Junction; it reads as open.
    default: return 'open'
  }
}
