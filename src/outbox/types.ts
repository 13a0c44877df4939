/**
 * The contract between write routes (which decide what must be propagated) and the
 * outbox (which delivers it, durably, to every dependent service). Plain types; the
 * implementation lives next to this file. See docs/versioning.md for the protocol
 * toward services.
 */

/** One copy of one entity version, to be delivered to one dependent service. */
export interface DeliveryRequest {
  /** Name of the dependent service (a key of `services`). */
  readonly dependent: string
  /**
   * Stable identity of the entity across writes, e.g. `users:/users/7` (owner service and
   * owner path). Newest-wins and at-most-one-in-flight are per (dependent, entity).
   */
  readonly entity: string
  /** The owner's committed version; dependents apply only strictly newer versions. */
  readonly version: number
  /** Unique per client write; with the dependent it makes the Idempotency-Key. */
  readonly writeId: string
  /** PUT carries the representation; DELETE is a versioned tombstone. */
  readonly method: 'PUT' | 'DELETE'
  /** Path on the dependent service, placeholders already resolved. */
  readonly path: string
  /** The (projected) representation, JSON text; absent for DELETE. */
  readonly body?: string
  /** Header carrying the version toward this dependent (default X-Entity-Version). */
  readonly versionHeader?: string
  /** Epoch ms of the client's 2xx (or of recovery), for propagation-lag measurement. */
  readonly committedAt: number
  /**
   * The W3C traceparent of the write's span at Junction (absent in entries written before
   * tracing, and for recovered writes): every attempt, however late and wherever made,
   * joins that trace.
   */
  readonly traceparent?: string
  readonly tracestate?: string
  /** The client request's id (X-Request-Id), for the delivery's log lines. */
  readonly requestId?: string
}

export type DeliveryOutcome = 'delivered' | 'superseded' | 'dead'

export interface DeliveryEvent {
  readonly outcome: DeliveryOutcome
  readonly request: DeliveryRequest
  readonly attempts: number
  /** Milliseconds from `committedAt` to this outcome. */
  readonly lagMs: number
  readonly status?: number
  /** For a dead letter: why it died. */
  readonly reason?: string
}

/** What one delivery attempt (one HTTP call to the dependent) led to. */
export type AttemptResult = 'delivered' | 'superseded' | 'retry' | 'dead'

export interface AttemptEvent {
  readonly request: DeliveryRequest
  readonly result: AttemptResult
  /** Attempts made so far, this one included. */
  readonly attempts: number
  /** The dependent's status; absent when no answer came. */
  readonly status?: number
  /** Why no answer came (connect error, reset, timeout). */
  readonly error?: string
  /** With result "retry": when the next attempt is due, in ms from now. */
  readonly retryInMs?: number
}

export interface DependentStats {
  readonly dependent: string
  readonly pending: number
  readonly inFlight: number
  readonly retrying: number
  readonly dead: number
  /** Age in ms of the oldest undelivered entry, 0 when empty. */
  readonly oldestAgeMs: number
  /** Commit-to-delivery lag in ms of the most recent delivery to this dependent, when known. */
  readonly lagMs?: number
}

export interface DeadLetter {
  readonly id: string
  readonly request: DeliveryRequest
  readonly attempts: number
  readonly deadAt: number
  readonly reason: string
  /** The dependent's last answer, when there was one (status, a bounded body excerpt). */
  readonly lastResponse?: { readonly status: number, readonly body: string }
}

export interface Outbox {
  /** Records every delivery durably; when the promise resolves none can be lost. */
  enqueue (deliveries: readonly DeliveryRequest[]): Promise<void>
  /** The highest version ever enqueued for (dependent, entity), if any. */
  latestEnqueued (dependent: string, entity: string): Promise<number | undefined>
  stats (): Promise<DependentStats[]>
  /** Oldest first; `after` (a dead letter id) continues a listing past that id. */
  deadLetters (dependent: string, opts?: { limit?: number, after?: string }): Promise<DeadLetter[]>
  /** Moves dead letters back to delivery (one id, or all of a dependent); resolves to how many. */
  replay (dependent: string, id?: string): Promise<number>
  /** Drops dead letters (one id, or all of a dependent); resolves to how many. */
  discard (dependent: string, id?: string): Promise<number>
  /** Subscribes to delivery outcomes in this process (metrics, lag, tests). */
  onOutcome (listener: (event: DeliveryEvent) => void): () => void
  /** Subscribes to every delivery attempt in this process, retries scheduled included (metrics, logs). */
  onAttempt (listener: (event: AttemptEvent) => void): () => void
  /** Starts the delivery workers of this process. */
  start (): void
  /** Stops claiming, lets in-flight deliveries finish (bounded), releases resources. */
  close (): Promise<void>
}
