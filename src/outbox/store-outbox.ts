/**
 * The outbox over the Store seam: durable, at-least-once, newest-wins delivery of entity
 * versions to dependent services. docs/outbox.md describes the protocol and how each
 * guarantee is achieved; in short:
 *
 * - enqueue appends one entry per delivery to the dependent's DurableQueue (durable when
 *   the promise resolves) and raises the (dependent, entity) newest-wins register, a
 *   register of that queue, in the same store operation;
 * - a worker that claims an entry takes the (dependent, entity) lease (a lock of the queue,
 *   with a TTL) and reads the register under it, in one operation; if the register is
 *   higher the entry is superseded and acknowledged without being sent (if lower, the
 *   worker raises it);
 * - otherwise it sends one attempt and records the outcome durably *before* acknowledging
 *   the entry (the acknowledgement releases the lease): a retry is a delayed re-append, a
 *   dead letter an append to the dead-letter queue. A crash at any point leaves the entry (or its
 *   successor) in the store: a delivery may repeat (same Idempotency-Key), never vanish.
 */
import { setMaxListeners } from 'node:events'
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { errors } from '../errors.js'
import type { QueueEntry, QueueRegister, Store } from '../store/store.js'
import type { ServicePool } from '../upstream/service-pool.js'
import { attemptDelivery, type AttemptResult } from './delivery.js'
import { DependentWorker } from './dependent-worker.js'
import { decodeDead, decodePending, encodeDead, encodePending, ENTITY_FIELD, type LastResponse, type PendingDelivery } from './entry-codec.js'
import { checkOutboxOptions, OUTBOX_DEFAULTS, type OutboxOptions } from './outbox-options.js'
import { deadQueue, deliveryQueue, lagKey, latestRegister, leaseLock, NUDGE_CHANNEL } from './outbox-keys.js'
import { classifyStatus, retryDelayMs } from './retry-policy.js'
import type { AttemptEvent, DeadLetter, DeliveryEvent, DeliveryOutcome, DeliveryRequest, DependentStats, Outbox } from './types.js'
import { IdTracer, type Tracer } from '../observability/tracing.js'

/** Where the outbox finds a dependent's connection pool (Upstreams fits). */
export interface ServiceLookup {
  get (name: string): ServicePool
}

export interface StoreOutboxOptions extends Partial<OutboxOptions> {
  readonly store: Store
  readonly services: ServiceLookup
  /** Names of the dependent services (workers run for each). */
  readonly dependents: readonly string[]
  /** This instance's consumer name in the queues' group; unique per process by default. */
  readonly consumer?: string
  /** Store or worker failures that are retried by themselves (log them). */
  readonly onError?: (err: unknown, context: string) => void
  /** Source of jitter (tests). */
  readonly random?: () => number
  /** Gives each attempt a span under the write's stored trace context; default: ids only. */
  readonly tracer?: Tracer
}

/** A lease held by another worker: look again this soon (plus jitter), without counting an attempt. */
const LEASE_BUSY_RETRY_MS = 50
/** Bulk replay/discard stop after this long (they can be run again). */
const BULK_DEADLINE_MS = 60_000
const BULK_BATCH = 500
/** Nudges published to other instances, per dependent, at most this often. */
const NUDGE_PUBLISH_INTERVAL_MS = 20
/** Writes of the last-lag stat per dependent at most this often. */
const LAG_WRITE_INTERVAL_MS = 250

export class StoreOutbox implements Outbox {
  readonly options: OutboxOptions
  readonly consumer: string
  private readonly store: Store
  private readonly services: ServiceLookup
  private readonly workers = new Map<string, DependentWorker>()
  private readonly listeners = new Set<(event: DeliveryEvent) => void>()
  private readonly attemptListeners = new Set<(event: AttemptEvent) => void>()
  private readonly tracer: Tracer
  private readonly onError: (err: unknown, context: string) => void
  private readonly random: () => number
  /**
   * Aborted by close(): every delivery in flight listens to it (one listener each, removed
   * when the attempt settles), so more than 10 concurrent deliveries is normal, not a leak.
   */
  private readonly abort = unboundedAbortController()
  private readonly lastLagWrite = new Map<string, number>()
  /** When a nudge for a dependent was last published, and the one scheduled (see nudge). */
  private readonly lastNudge = new Map<string, number>()
  private readonly nudgeTimers = new Map<string, NodeJS.Timeout>()
  /** (dependent, entity) → the last delivery of it started in this process. */
  private readonly localChains = new Map<string, Promise<void>>()
  private unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined
  private started = false
  private closing: Promise<void> | undefined

  constructor (opts: StoreOutboxOptions) {
    const { store, services, dependents, consumer, onError, random, tracer, ...knobs } = opts
    const options: OutboxOptions = { ...OUTBOX_DEFAULTS }
    for (const [key, value] of Object.entries(knobs)) {
      if (value !== undefined && key in OUTBOX_DEFAULTS) (options as unknown as Record<string, number>)[key] = value as number
    }
    const problems = checkOutboxOptions(options)
    if (problems.length > 0) throw new Error(problems.join('\n'))
    this.options = Object.freeze(options)
    this.store = store
    this.services = services
    this.consumer = consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
    this.onError = onError ?? (() => {})
    this.random = random ?? Math.random
    this.tracer = tracer ?? new IdTracer()
    for (const dependent of new Set(dependents)) {
      this.workers.set(dependent, new DependentWorker(dependent, store.queue(deliveryQueue(dependent)), {
        consumer: this.consumer,
        concurrency: options.concurrency,
        visibilityTimeoutMs: options.visibilityTimeoutMs,
        pollIntervalMs: options.pollIntervalMs,
        // On Redis the claim takes each entry's lease and reads its register (as deliver()
        // would): one store round trip less per delivery. The lease lasts as long as the
        // entry's visibility. Not on the embedded store: it has no round trip to save, and
        // locking a whole batch up front measured slower there.
        ...(store.kind === 'redis' ? { claimLock: { field: ENTITY_FIELD, lockPrefix: leaseLock(''), readPrefix: latestRegister(''), tokenPrefix: `${this.consumer}:`, ttlMs: options.visibilityTimeoutMs } } : {})
      }, entry => this.handle(dependent, entry), err => { this.onError(err, `claiming deliveries for "${dependent}"`) }))
    }
  }

  /** The dependents this outbox delivers to, in configuration order. */
  dependents (): string[] {
    return [...this.workers.keys()]
  }

  // --- the contract ------------------------------------------------------------------------

  async enqueue (deliveries: readonly DeliveryRequest[]): Promise<void> {
    if (this.closing !== undefined) throw new Error('the outbox is closed')
    for (const d of deliveries) {
      this.worker(d.dependent)
      if (!Number.isSafeInteger(d.version) || d.version < 0) throw new Error(`delivery of ${d.entity} to ${d.dependent}: version ${d.version} is not a non-negative integer`)
      if (!d.path.startsWith('/')) throw new Error(`delivery of ${d.entity} to ${d.dependent}: path "${d.path}" must start with "/"`)
    }
    const now = Date.now()
    // Appends first, register second: a crash in between leaves an entry whose version is
    // above the register, which the worker raises itself; the other order could leave a
    // register pointing at a version no entry carries, superseding older ones for nothing.
    // Both are issued without waiting in between: each store applies operations in the
    // order issued (the embedded journal writes one tick's operations in order in one
    // write; Redis runs one connection's commands in order), so the order still holds
    // after a crash, and one durable round trip serves the whole write.
    // The register is kept with the queue, so each append and its raise are one store
    // operation (one command on Redis), applied in that order.
    await Promise.all(deliveries.map(d => this.store.queue(deliveryQueue(d.dependent))
      .append(encodePending({ request: d, attempts: 0, firstAt: now }), { raise: this.latest(d) })))
    this.nudge(new Set(deliveries.map(d => d.dependent)))
  }

  async latestEnqueued (dependent: string, entity: string): Promise<number | undefined> {
    return await this.store.queue(deliveryQueue(dependent)).read(latestRegister(entity))
  }

  async stats (): Promise<DependentStats[]> {
    const now = Date.now()
    return await Promise.all(this.dependents().map(async dependent => {
      const [queue, dead, lag] = await Promise.all([
        this.store.queue(deliveryQueue(dependent)).stats(),
        this.store.queue(deadQueue(dependent)).stats(),
        this.store.get(lagKey(dependent))
      ])
      // The oldest undelivered delivery: the oldest entry appended (never retried) or, among
      // those re-appended for a retry or a lease wait, the oldest first enqueue (`since`).
      const oldest = minDefined(queue.oldestAt, queue.oldestSince)
      const stats: DependentStats = {
        dependent,
        pending: Math.max(0, queue.length - queue.inFlight - queue.delayed),
        inFlight: queue.inFlight,
        retrying: queue.delayed,
        dead: dead.length,
        oldestAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest)
      }
      const lagMs = lag === null ? Number.NaN : Number(lag.toString())
      return Number.isFinite(lagMs) ? { ...stats, lagMs } : stats
    }))
  }

  async deadLetters (dependent: string, opts: { limit?: number, after?: string } = {}): Promise<DeadLetter[]> {
    this.worker(dependent)
    const limit = Math.min(Math.max(1, Math.floor(opts.limit ?? 100)), 1000)
    const entries = await this.store.queue(deadQueue(dependent)).peek(opts.after === undefined ? { count: limit } : { count: limit, after: opts.after })
    const letters: DeadLetter[] = []
    for (const e of entries) {
      const letter = decodeDead(e.id, e.fields)
      if (letter !== undefined) letters.push(letter)
    }
    return letters
  }

  async replay (dependent: string, id?: string): Promise<number> {
    const worker = this.worker(dependent)
    const queue = this.store.queue(deliveryQueue(dependent))
    const dead = this.store.queue(deadQueue(dependent))
    const count = await this.eachDead(dependent, id, async (entryId, fields) => {
      const letter = decodeDead(entryId, fields)
      if (letter !== undefined) {
        // A fresh start: attempts and the max-age clock begin again, as after a new write.
        await queue.append(encodePending({ request: letter.request, attempts: 0, firstAt: Date.now() }))
      }
      await dead.ack([entryId])
    })
    if (count > 0) {
      worker.wake()
      this.nudge(new Set([dependent]))
    }
    return count
  }

  async discard (dependent: string, id?: string): Promise<number> {
    this.worker(dependent)
    const dead = this.store.queue(deadQueue(dependent))
    return await this.eachDead(dependent, id, async entryId => { await dead.ack([entryId]) })
  }

  onOutcome (listener: (event: DeliveryEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  onAttempt (listener: (event: AttemptEvent) => void): () => void {
    this.attemptListeners.add(listener)
    return () => { this.attemptListeners.delete(listener) }
  }

  start (): void {
    if (this.started || this.closing !== undefined) return
    this.started = true
    this.unsubscribe = this.store.subscribe(NUDGE_CHANNEL, message => {
      // `<dependent>\n<sender>`. Our own nudge comes back too: the local worker was already
      // woken by the enqueue, and a second claim would find nothing. (A bare `<dependent>`,
      // from an older instance, wakes the worker.)
      const cut = message.indexOf('\n')
      if (cut !== -1 && message.slice(cut + 1) === this.consumer) return
      this.workers.get(cut === -1 ? message : message.slice(0, cut))?.wake()
    })
      .catch((err: unknown) => {
        // Without nudges from other instances, polling still finds their work.
        this.onError(err, 'subscribing to outbox nudges')
        return undefined
      })
    for (const worker of this.workers.values()) worker.start()
  }

  close (): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.nudgeTimers.values()) clearTimeout(timer)
      this.nudgeTimers.clear()
      const workers = [...this.workers.values()]
      await Promise.all(workers.map(w => w.stop()))
      const drained = Promise.all(workers.map(w => w.drained()))
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), this.options.closeTimeoutMs) })
      ])
      clearTimeout(timer)
      if (timedOut) {
        // Abandon the attempts still running: their entries stay unacknowledged and are
        // delivered again (after the visibility timeout, or after a restart).
        this.abort.abort()
        await Promise.race([drained, new Promise(resolve => setTimeout(resolve, 1000).unref())])
      }
      const unsubscribe = await this.unsubscribe
      await unsubscribe?.().catch(() => {})
    })()
    return this.closing
  }

  // --- delivery ------------------------------------------------------------------------------

  private worker (dependent: string): DependentWorker {
    const worker = this.workers.get(dependent)
    if (worker === undefined) throw errors.unknownDependent(dependent)
    return worker
  }

  /** The newest-wins register of a delivery's entity, raised to the delivery's version. */
  private latest (request: DeliveryRequest): QueueRegister {
    return { key: latestRegister(request.entity), value: request.version, ttlMs: this.options.latestRetentionMs }
  }

  private async raiseLatest (request: DeliveryRequest): Promise<number> {
    return await this.store.queue(deliveryQueue(request.dependent)).raise(this.latest(request))
  }

  /** Never rejects: an entry whose handling failed stays unacknowledged and comes back. */
  private async handle (dependent: string, entry: QueueEntry): Promise<void> {
    // Deliveries of one entity to one dependent run one after the other in this process:
    // a newer version waits in memory for the one in flight (and then usually finds it
    // superseded) instead of bouncing off the store lease and coming back later. The
    // lease still keeps other instances out.
    const pending = decodePending(entry.fields)
    const key = pending === undefined ? undefined : `${dependent}\u0000${pending.request.entity}`
    const previous = key === undefined ? undefined : this.localChains.get(key)
    const mine = (previous ?? Promise.resolve()).then(async () => {
      try {
        await this.deliver(dependent, entry, pending)
      } catch (err) {
        if (!this.abort.signal.aborted) this.onError(err, `delivering entry ${entry.id} to "${dependent}"`)
      }
    })
    if (key !== undefined) this.localChains.set(key, mine)
    await mine
    if (key !== undefined && this.localChains.get(key) === mine) this.localChains.delete(key)
  }

  /**
   * Whether `request` is older than the newest version enqueued for its entity, given the
   * register as read (`latest`). Raises the register only when this entry is above it (a
   * crash between append and register): the common case costs no write.
   */
  private async superseded (request: DeliveryRequest, latest: number | undefined): Promise<boolean> {
    if (latest !== undefined && latest >= request.version) return latest > request.version
    return await this.raiseLatest(request) > request.version
  }

  private async deliver (dependent: string, entry: QueueEntry, pending: PendingDelivery | undefined): Promise<void> {
    const queue = this.store.queue(deliveryQueue(dependent))
    // The lease the claim took for this entry, when it could (see the worker's claimLock).
    const taken = entry.lock?.locked === true ? entry.lock : undefined
    if (pending === undefined) {
      // Nothing to deliver or to dead-letter: keep the fields in the error for the operator.
      this.onError(new Error(`unreadable outbox entry: ${JSON.stringify(entry.fields).slice(0, 500)}`), `"${dependent}" entry ${entry.id}`)
      const field = entry.fields[ENTITY_FIELD]
      await queue.ack([entry.id], taken === undefined || field === undefined ? {} : { unlock: { key: leaseLock(field), token: taken.token } })
      return
    }
    const { request } = pending
    const lease = { key: leaseLock(request.entity), token: taken?.token ?? `${this.consumer}:${entry.id}:${randomUUID()}` }
    // The lease, then the register, in one store operation: the register is read once the
    // lease is held. A version enqueued after that read is newer and waits for the lease:
    // nothing older is ever sent after it (guarantee 3). The lease lasts as long as an
    // entry's visibility: a holder that died frees both together. Usually the claim took
    // both already; when it found the lease held (by this process's delivery of the same
    // entity, which this one waited for, or by another instance), it is asked for here.
    const { locked, value: latest } = taken ?? await queue.lock({ ...lease, ttlMs: this.options.visibilityTimeoutMs }, { read: latestRegister(request.entity) })
    if (!locked) {
      // Another worker is delivering this entity to this dependent: come back shortly
      // (durably, so nothing depends on this process staying up).
      const delay = LEASE_BUSY_RETRY_MS + Math.floor(this.random() * LEASE_BUSY_RETRY_MS)
      await queue.append({ ...entry.fields }, { delayMs: delay, since: pending.firstAt })
      await queue.ack([entry.id])
      this.workers.get(dependent)?.wakeAt(Date.now() + delay)
      return
    }
    // The lease is released by the acknowledgement that ends the delivery (one store
    // operation for both), or at the latest when this method ends.
    let released = false
    const ack = async (ids: string[]): Promise<void> => {
      if (released) return await queue.ack(ids)
      await queue.ack(ids, { unlock: lease })
      released = true
    }
    try {
      if (await this.superseded(request, latest)) {
        await ack([entry.id])
        this.emit('superseded', request, pending.attempts)
        return
      }
      if (Date.now() - pending.firstAt > this.options.maxAgeMs) {
        await this.bury(dependent, entry.id, pending, pending.attempts, `not delivered within the maximum age of ${this.options.maxAgeMs} ms`, pending.last, ack)
        return
      }
      // A span per attempt, under the write's trace (a new trace for entries stored without one).
      const span = this.tracer.delivery(request.traceparent, request.tracestate, `deliver ${dependent}`, {
        'junction.dependent': dependent,
        'junction.write_id': request.writeId,
        'junction.entity': request.entity,
        'junction.version': request.version,
        'junction.attempt': pending.attempts + 1,
        'http.request.method': request.method
      })
      const result = await attemptDelivery(this.services.get(dependent), request, {
        timeoutMs: this.options.attemptTimeoutMs,
        signal: this.abort.signal,
        trace: span
      })
      span.end(result.status === undefined ? { error: result.error ?? 'no answer' } : { status: result.status })
      // Closing abandoned the attempt: it did not count, the entry comes back.
      if (this.abort.signal.aborted && result.status === undefined) return
      await this.settle(dependent, entry.id, pending, result, ack)
    } finally {
      if (!released) {
        released = true
        await queue.ack([], { unlock: lease }).catch((err: unknown) => { this.onError(err, `releasing lease ${lease.key} of "${dependent}"`) })
      }
    }
  }

  /** Records what one attempt means, durably, then acknowledges the entry. */
  private async settle (dependent: string, entryId: string, pending: PendingDelivery, result: AttemptResult,
    ack: (ids: string[]) => Promise<void>): Promise<void> {
    const queue = this.store.queue(deliveryQueue(dependent))
    const attempts = pending.attempts + 1
    const last: LastResponse | undefined = result.status === undefined ? pending.last : { status: result.status, body: result.body }
    const verdict = result.status === undefined ? 'retry' : classifyStatus(result.status).kind
    switch (verdict) {
      case 'delivered':
      case 'superseded':
        await ack([entryId])
        if (verdict === 'delivered') this.noteLag(dependent, pending.request)
        this.emitAttempt(verdict, pending.request, attempts, result)
        this.emit(verdict, pending.request, attempts, result.status)
        return
      case 'dead':
        await this.bury(dependent, entryId, pending, attempts, `HTTP ${result.status}: not retryable`, last, ack, result)
        return
      case 'retry': {
        const why = result.status === undefined ? (result.error ?? 'no answer') : `HTTP ${result.status}`
        if (attempts >= this.options.maxAttempts) {
          await this.bury(dependent, entryId, pending, attempts, `gave up after ${attempts} attempts; last: ${why}`, last, ack, result)
          return
        }
        const delay = retryDelayMs(attempts, result.retryAfterMs, this.options, this.random)
        if (Date.now() + delay - pending.firstAt > this.options.maxAgeMs) {
          await this.bury(dependent, entryId, pending, attempts, `would exceed the maximum age of ${this.options.maxAgeMs} ms; last: ${why}`, last, ack, result)
          return
        }
        // `since`: the entry keeps counting in the dependent's oldest age while it waits (stats).
        await queue.append(encodePending({ request: pending.request, attempts, firstAt: pending.firstAt, last, lastError: result.error }), { delayMs: delay, since: pending.firstAt })
        await ack([entryId])
        this.workers.get(dependent)?.wakeAt(Date.now() + delay)
        this.emitAttempt('retry', pending.request, attempts, result, delay)
      }
    }
  }

  /** Dead-letters an entry: appended to the dead letters, then acknowledged with `ack` (which may release a lease too). `result`: the attempt that led here, when one did (not for an entry past its maximum age). */
  private async bury (dependent: string, entryId: string, pending: PendingDelivery, attempts: number, reason: string, last: LastResponse | undefined,
    ack: (ids: string[]) => Promise<void>, result?: AttemptResult): Promise<void> {
    const letter = { request: pending.request, attempts, deadAt: Date.now(), reason }
    await this.store.queue(deadQueue(dependent)).append(encodeDead(last === undefined ? letter : { ...letter, lastResponse: last }))
    await ack([entryId])
    if (result !== undefined) this.emitAttempt('dead', pending.request, attempts, result)
    this.emit('dead', pending.request, attempts, last?.status, reason)
  }

  private emitAttempt (outcome: AttemptEvent['result'], request: DeliveryRequest, attempts: number, result: AttemptResult, retryInMs?: number): void {
    if (this.attemptListeners.size === 0) return
    // Set key by key, not with conditional spreads: this runs for every delivery.
    const event: { -readonly [K in keyof AttemptEvent]: AttemptEvent[K] } = { request, result: outcome, attempts }
    if (result.status !== undefined) event.status = result.status
    if (result.error !== undefined) event.error = result.error
    if (retryInMs !== undefined) event.retryInMs = retryInMs
    for (const listener of [...this.attemptListeners]) {
      try {
        listener(event)
      } catch (err) {
        this.onError(err, 'an attempt listener threw')
      }
    }
  }

  private emit (outcome: DeliveryOutcome, request: DeliveryRequest, attempts: number, status?: number, reason?: string): void {
    const event: { -readonly [K in keyof DeliveryEvent]: DeliveryEvent[K] } = { outcome, request, attempts, lagMs: Math.max(0, Date.now() - request.committedAt) }
    if (status !== undefined) event.status = status
    if (reason !== undefined) event.reason = reason
    for (const listener of [...this.listeners]) {
      try {
        listener(event)
      } catch (err) {
        this.onError(err, 'an outcome listener threw')
      }
    }
  }

  private noteLag (dependent: string, request: DeliveryRequest): void {
    const now = Date.now()
    if (now - (this.lastLagWrite.get(dependent) ?? 0) < LAG_WRITE_INTERVAL_MS) return
    this.lastLagWrite.set(dependent, now)
    this.store.set(lagKey(dependent), String(Math.max(0, now - request.committedAt)))
      .catch((err: unknown) => { this.onError(err, 'recording delivery lag') })
  }

  /**
   * Wakes local workers at once and the other instances' through pub/sub (best effort).
   * The local worker takes what this instance enqueues; other instances are told at most
   * once per NUDGE_PUBLISH_INTERVAL_MS per dependent (the last nudge of a burst is sent at
   * the end of the interval), not once per write: one woken instance claims a batch.
   */
  private nudge (dependents: Set<string>): void {
    for (const dependent of dependents) {
      this.workers.get(dependent)?.wake()
      if (this.store.kind === 'embedded') continue // one process: nobody else to tell
      if (this.nudgeTimers.has(dependent)) continue // a publish is already scheduled
      const wait = (this.lastNudge.get(dependent) ?? -Infinity) + NUDGE_PUBLISH_INTERVAL_MS - Date.now()
      if (wait <= 0) {
        this.publishNudge(dependent)
        continue
      }
      const timer = setTimeout(() => {
        this.nudgeTimers.delete(dependent)
        this.publishNudge(dependent)
      }, wait)
      timer.unref()
      this.nudgeTimers.set(dependent, timer)
    }
  }

  private publishNudge (dependent: string): void {
    if (this.closing !== undefined) return
    this.lastNudge.set(dependent, Date.now())
    this.store.publish(NUDGE_CHANNEL, `${dependent}\n${this.consumer}`).catch((err: unknown) => { this.onError(err, 'publishing an outbox nudge') })
  }

  /** Runs `fn` on one dead letter (by id) or on all of them, batch by batch, for a bounded time. */
  private async eachDead (dependent: string, id: string | undefined,
    fn: (id: string, fields: Readonly<Record<string, string>>) => Promise<void>): Promise<number> {
    const dead = this.store.queue(deadQueue(dependent))
    if (id !== undefined) {
      const entry = await dead.get(id)
      if (entry === undefined) return 0
      await fn(entry.id, entry.fields)
      return 1
    }
    let count = 0
    const deadline = Date.now() + BULK_DEADLINE_MS
    let after: string | undefined
    while (Date.now() < deadline) {
      const batch = await dead.peek(after === undefined ? { count: BULK_BATCH } : { count: BULK_BATCH, after })
      if (batch.length === 0) break
      for (const entry of batch) {
        await fn(entry.id, entry.fields)
        count++
      }
      after = batch[batch.length - 1]!.id
    }
    return count
  }
}

function minDefined (a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  return b === undefined ? a : Math.min(a, b)
}

function unboundedAbortController (): AbortController {
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  return controller
}
