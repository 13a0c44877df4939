/**
 * The claim loop of one dependent in one process: keeps up to `concurrency` deliveries in
 * flight, claims more as slots free up, and sleeps when there is nothing to do. Sleep
 * ends on a nudge (a local enqueue, or pub/sub from another instance), at the due time of
 * a retry this process scheduled, or after `pollIntervalMs` (due retries scheduled
 * elsewhere, entries to reclaim from a dead instance). An idle worker costs one claim per
 * poll interval and no CPU in between.
 */
import type { ClaimLock, DurableQueue, QueueEntry } from '../store/store.js'

export interface WorkerOptions {
  readonly consumer: string
  readonly concurrency: number
  readonly visibilityTimeoutMs: number
  readonly pollIntervalMs: number
  /** Locks each claim takes for the entries it hands out (see ClaimLock). */
  readonly claimLock?: ClaimLock
}

export class DependentWorker {
  private readonly active = new Set<Promise<void>>()
  private stopped = false
  private loop: Promise<void> | undefined
  /** Set by wake() when nobody sleeps yet, so a nudge between claim and sleep is not lost. */
  private woken = false
  private sleeper: { resolve: () => void, until: number, timer: NodeJS.Timeout } | undefined
  private nextDueAt: number | undefined
  /** The loop sleeps because every slot is taken: a finishing handler wakes it. */
  private waitingForSlot = false

  constructor (
    readonly dependent: string,
    private readonly queue: DurableQueue,
    private readonly opts: WorkerOptions,
    /** Handles one entry; must not reject (errors are the handler's to report). */
    private readonly handle: (entry: QueueEntry) => Promise<void>,
    private readonly onError: (err: unknown) => void
  ) {}

  start (): void {
    this.loop ??= this.run()
  }

  /** New work may be there: stop sleeping. */
  wake (): void {
    this.woken = true
    this.cancelSleep()
  }

  /** A retry this process scheduled becomes due at `at` (epoch ms): be awake then. */
  wakeAt (at: number): void {
    if (this.nextDueAt === undefined || at < this.nextDueAt) this.nextDueAt = at
    if (this.sleeper !== undefined && at < this.sleeper.until) this.wake()
  }

  get inFlight (): number {
    return this.active.size
  }

  /** Stops claiming; resolves once the loop has exited (in-flight handlers may still run). */
  async stop (): Promise<void> {
    this.stopped = true
    this.wake()
    await this.loop
  }

  /** Resolves when every handler running now has finished. */
  async drained (): Promise<void> {
    await Promise.allSettled([...this.active])
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      const free = this.opts.concurrency - this.active.size
      if (free <= 0) {
        // Full: wait for a slot (or a stop), never spin. (Not Promise.race over the active
        // handlers: that attaches a reaction to each of them for every slot that frees up.)
        this.waitingForSlot = true
        await this.sleep(this.opts.pollIntervalMs)
        this.waitingForSlot = false
        continue
      }
      this.woken = false
      let entries: QueueEntry[]
      try {
        entries = await this.queue.claim(this.opts.consumer, this.opts.claimLock === undefined
          ? { count: free, visibilityMs: this.opts.visibilityTimeoutMs }
          : { count: free, visibilityMs: this.opts.visibilityTimeoutMs, lock: this.opts.claimLock })
      } catch (err) {
        this.onError(err)
        await this.sleep(this.opts.pollIntervalMs)
        continue
      }
      for (const entry of entries) {
        const p: Promise<void> = this.handle(entry).finally(() => {
          this.active.delete(p)
          // A slot is free: wake a loop that waits for one (not one that is idle).
          if (this.waitingForSlot) this.cancelSleep()
        })
        this.active.add(p)
      }
      // Fewer than asked for: the queue is drained for now, so sleep rather than ask again
      // (a claim that finds nothing is a store round trip per delivery on Redis). A nudge
      // that came while claiming set `woken`, and the sleep returns at once.
      if (entries.length < free) await this.sleep(this.idleDelay())
    }
  }

  private idleDelay (): number {
    const now = Date.now()
    if (this.nextDueAt !== undefined && this.nextDueAt <= now) this.nextDueAt = undefined
    // A few ms past the due time: the store decides "due" on its own clock.
    return this.nextDueAt === undefined ? this.opts.pollIntervalMs : Math.min(this.opts.pollIntervalMs, this.nextDueAt - now + 5)
  }

  private async sleep (ms: number): Promise<void> {
    if (this.woken || this.stopped) {
      this.woken = false
      return
    }
    this.cancelSleep()
    await new Promise<void>(resolve => {
      const sleeper = {
        resolve,
        until: Date.now() + ms,
        timer: setTimeout(() => {
          if (this.sleeper === sleeper) this.sleeper = undefined
          resolve()
        }, Math.max(1, ms))
      }
      this.sleeper = sleeper
    })
  }

  private cancelSleep (): void {
    const sleeper = this.sleeper
    if (sleeper === undefined) return
    this.sleeper = undefined
    clearTimeout(sleeper.timer)
    sleeper.resolve()
  }
}
