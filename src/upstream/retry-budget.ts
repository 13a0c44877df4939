/**
 * A retry budget (Finagle's RetryBudget, Linkerd's retryBudget, Envoy's retry_budget):
 * within any window, retries may be at most `minRetries + ratio × requests`. Per-request
 * retry limits alone multiply the load by the number of attempts exactly when a service
 * is failing; a budget caps the extra load at `ratio` once traffic is high, while
 * `minRetries` lets a quiet service retry at all.
 *
 * Hand-written: cockatiel and the other maintained resilience libraries for Node have
 * retry counts and backoff but no budget. The window slides in ten buckets, so counts
 * expire a tenth of a window at a time; time is passed in so tests need no clock.
 */
import type { RetryBudgetConfig } from '../config/resilience-block.js'

const BUCKETS = 10

export class RetryBudget {
  readonly #ratio: number
  readonly #minRetries: number
  readonly #bucketMs: number
  readonly #requests = new Array<number>(BUCKETS).fill(0)
  readonly #retries = new Array<number>(BUCKETS).fill(0)
  #requestTotal = 0
  #retryTotal = 0
  #index = 0
  #bucketStart = 0

  constructor (config: RetryBudgetConfig) {
    this.#ratio = config.ratio
    this.#minRetries = config.minRetries
    this.#bucketMs = Math.max(1, config.windowMs / BUCKETS)
  }

  /** Counts a request (a first try). */
  recordRequest (now: number = Date.now()): void {
    this.#advance(now)
    this.#requests[this.#index] = (this.#requests[this.#index] as number) + 1
    this.#requestTotal++
  }

  /** Takes one retry from the budget if it has one; false means: do not retry. */
  tryRetry (now: number = Date.now()): boolean {
    this.#advance(now)
    if (this.#retryTotal + 1 > this.#minRetries + this.#ratio * this.#requestTotal) return false
    this.#retries[this.#index] = (this.#retries[this.#index] as number) + 1
    this.#retryTotal++
    return true
  }

  /** Moves the window to `now`, dropping the buckets that fell out of it. */
  #advance (now: number): void {
    const elapsed = Math.floor((now - this.#bucketStart) / this.#bucketMs)
    if (elapsed <= 0) return
    // Bounded: after a whole window of silence every bucket is empty anyway.
    for (let i = 0; i < Math.min(elapsed, BUCKETS); i++) {
      this.#index = (this.#index + 1) % BUCKETS
      this.#requestTotal -= this.#requests[this.#index] as number
      this.#retryTotal -= this.#retries[this.#index] as number
      this.#requests[this.#index] = 0
      this.#retries[this.#index] = 0
    }
    this.#bucketStart += elapsed * this.#bucketMs
  }
}
