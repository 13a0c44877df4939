/**
 * The outbox's recent past for the admin dashboard: every few seconds one sample of each
 * dependent's counters (backlog, retrying, dead, oldest undelivered age, last lag) goes
 * into a fixed-size ring, so memory stays bounded however long the gateway runs. It lives
 * in this process only: after a restart the chart starts empty, and each instance of a
 * multi-instance deployment samples the shared outbox on its own (docs/admin.md).
 */
import type { DependentStats } from '../outbox/types.js'

export interface LagSample {
  /** Epoch ms of the sample. */
  readonly at: number
  readonly pending: number
  readonly retrying: number
  readonly dead: number
  /** Age of the oldest undelivered entry (0 when none waits). */
  readonly oldestAgeMs: number
  /** Commit-to-delivery lag of the latest delivery, when one is known. */
  readonly lagMs: number | undefined
}

export interface LagHistoryOptions {
  /** Where the samples come from (the outbox's stats()). */
  readonly stats: () => Promise<readonly DependentStats[]>
  /** Samples kept per dependent (the ring's size). */
  readonly capacity: number
  readonly intervalMs: number
  /** A failed sample is skipped and reported here; the next one is tried as usual. */
  readonly onError?: (err: unknown) => void
}

/** A fixed-size ring: push overwrites the oldest once full. */
export class Ring<T> {
  readonly #items: Array<T | undefined>
  #start = 0
  #size = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`)
    this.#items = new Array<T | undefined>(capacity)
  }

  push (item: T): void {
    const capacity = this.#items.length
    if (this.#size < capacity) {
      this.#items[(this.#start + this.#size) % capacity] = item
      this.#size++
    } else {
      this.#items[this.#start] = item
      this.#start = (this.#start + 1) % capacity
    }
  }

  /** Oldest first. */
  toArray (): T[] {
    const out: T[] = []
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(this.#start + i) % this.#items.length] as T)
    return out
  }

  get size (): number {
    return this.#size
  }
}

export class LagHistory {
  readonly #opts: LagHistoryOptions
  readonly #rings = new Map<string, Ring<LagSample>>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false

  constructor (opts: LagHistoryOptions) {
    this.#opts = opts
  }

  /** Takes a sample now and then every intervalMs, until stop(). */
  start (): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#tick()
  }

  /** One sample of every dependent, resolving once recorded (also used by tests and the page). */
  async sample (now = Date.now()): Promise<void> {
    const stats = await this.#opts.stats()
    for (const s of stats) {
      let ring = this.#rings.get(s.dependent)
      if (ring === undefined) {
        ring = new Ring(this.#opts.capacity)
        this.#rings.set(s.dependent, ring)
      }
      ring.push({ at: now, pending: s.pending, retrying: s.retrying, dead: s.dead, oldestAgeMs: s.oldestAgeMs, lagMs: s.lagMs })
    }
  }

  /** Oldest first; empty for a dependent not sampled yet. */
  samples (dependent: string): LagSample[] {
    return this.#rings.get(dependent)?.toArray() ?? []
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
  }

  #tick (): void {
    this.#running = this.sample()
      .catch(err => { this.#opts.onError?.(err) })
      .finally(() => {
        this.#running = undefined
        if (this.#stopped) return
        // The next sample is scheduled when this one ended: a slow store never stacks them up.
        this.#timer = setTimeout(() => { this.#tick() }, this.#opts.intervalMs)
        this.#timer.unref()
      })
  }
}
