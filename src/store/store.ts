/**
 * The store seam. Everything Junction keeps outside a single request goes through this
 * one small interface, implemented twice: `EmbeddedStore` (in-process, with an
 * append-only journal for what must survive a crash) and `RedisStore` (ioredis; key
 * names carry hash tags so every multi-key operation stays in one Redis Cluster slot).
 * Both pass the same contract suite (test/store-contract.ts).
 *
 * Keys given to the store are logical names (`cache:abc`, `tag:user:7`); each
 * implementation maps them to its own physical layout.
 *
 * Operations other than pub/sub that are issued together (in one go, without awaiting in
 * between) take effect in the order issued, among the store's keys and among the
 * operations of one queue (its entries, registers and locks): the embedded store applies
 * each to memory when it is called (only the journal write is awaited), Redis sends them
 * in issue order on one connection. A caller may rely on that order without paying a round
 * trip per step (the outbox appends then raises a register, or takes a lease then reads a
 * register, in one round trip). The contract suite checks it.
 *
 * Between different queues, or between a queue and the store's keys, operations issued
 * together may take effect in either order: the Redis store sends a queue's appends, locks
 * and acks of one turn of the event loop as one script call at the end of the turn
 * (src/store/redis-queue-batch.ts). Await one before issuing the other where the order
 * matters (nothing in Junction needs it: a write's appends to several dependents' queues
 * are independent).
 */

export interface SetOptions {
  /** Expire the entry after this many milliseconds. */
  ttlMs?: number
  /**
   * Must survive a crash of the process. The embedded store journals such entries;
   * Redis is as durable as its persistence settings (AOF, see docs/deployment.md).
   * Cache entries are not durable: losing them on restart costs only a refill.
   */
  durable?: boolean
}

export interface QueueEntry {
  /** Store-assigned, unique and increasing within a queue. */
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
  /** How many times this entry has been handed out by `claim`, this time included. */
  readonly deliveries: number
  /** The lock taken for it by a claim with `lock` (entries having the lock's field only). */
  readonly lock?: { readonly locked: boolean, readonly value: number | undefined, readonly token: string }
}

/**
 * Locks a claim takes for the entries it hands out, in the same operation: for an entry
 * whose field `field` holds v, as `lock({ key: lockPrefix + v, token, ttlMs }, { read:
 * readPrefix + v })` would, in entry order, with token = tokenPrefix + id + ':' +
 * deliveries (unique per hand-out). One round trip where there were two.
 */
export interface ClaimLock {
  readonly field: string
  readonly lockPrefix: string
  readonly readPrefix: string
  readonly tokenPrefix: string
  readonly ttlMs: number
}

/** The token of a lock taken by a claim (see ClaimLock). */
export function claimLockToken (lock: ClaimLock, id: string, deliveries: number): string {
  return `${lock.tokenPrefix}${id}:${deliveries}`
}

export interface QueueStats {
  /** Entries appended and not yet acknowledged (waiting, delayed or in flight). */
  readonly length: number
  /** Entries currently held by a consumer (handed out, not acknowledged). */
  readonly inFlight: number
  /** Entries appended with a delay that have not yet been made claimable. */
  readonly delayed: number
  /** Epoch milliseconds of the oldest waiting or in-flight entry (delayed ones excluded), if any. */
  readonly oldestAt: number | undefined
  /**
   * The smallest `since` of the entries appended with one (delayed appends only) and not
   * yet acknowledged, delayed or since made claimable; absent when there is none. Lets a
   * caller that re-appends its work (retries) know the age of the oldest unfinished piece
   * without a scan: maintained by the delayed append, its promotion and the ack.
   */
  readonly oldestSince?: number
}

/** An entry looked at without being handed out (`peek`, `get`). */
export interface PeekedEntry {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
  /** Epoch ms at which the entry was appended (or, for a delayed one, became due). */
  readonly at: number
}

/**
 * A durable newest-wins register kept with a queue (see DurableQueue): raised to at least
 * `value` (missing = `value`); `ttlMs` is (re)applied when the value changes.
 */
export interface QueueRegister {
  readonly key: string
  readonly value: number
  readonly ttlMs?: number
}

/** A lock kept with a queue: held by `token` until released or `ttlMs` passed. */
export interface QueueLock {
  readonly key: string
  readonly token: string
  readonly ttlMs: number
}

/**
 * A durable work queue with competing consumers, shaped after Redis Streams consumer
 * groups: entries are handed to one consumer at a time and come back to whoever claims
 * next if they are not acknowledged within the visibility timeout.
 *
 * A queue also keeps registers and locks about its entries (`raise`, `lock`, the `raise`
 * option of append, the `unlock` option of ack), in a key space of its own that lives with
 * the queue (on Redis, in the queue's Cluster slot). That is what lets one operation
 * change them together with the queue's entries: one command where there were two.
 */
export interface DurableQueue {
  readonly name: string
  /**
   * Appends one entry; when the promise resolves the entry is durable. With `delayMs`
   * the entry is claimable only once that time has passed (durable retry schedules); a
   * delayed entry may be handed out under another id than the one returned here (Redis
   * assigns the stream id when it becomes due), and cannot be acknowledged before then.
   * With `raise`, the register is raised after the append, in the same operation.
   * With `since` (epoch ms; delayed appends only), the entry counts in `stats().oldestSince`
   * until it is acknowledged.
   */
  append (fields: Record<string, string>, opts?: { delayMs?: number, raise?: QueueRegister, since?: number }): Promise<string>
  /**
   * Hands out up to `count` entries to `consumer`: first entries whose holder has not
   * acknowledged them within `visibilityMs` (reclaimed), then entries never handed out.
   * With `lock`, takes a lock for each (see ClaimLock) in the same operation.
   */
  claim (consumer: string, opts: { count: number, visibilityMs: number, lock?: ClaimLock }): Promise<QueueEntry[]>
  /**
   * Acknowledges (and removes) entries; unknown ids are ignored. Durable on resolve. With
   * `unlock`, first releases that lock of the queue if `token` still holds it.
   */
  ack (ids: readonly string[], opts?: { unlock?: { key: string, token: string } }): Promise<void>
  /**
   * Takes a lock of the queue if nobody holds it; with `read`, then reads that register
   * of the queue, in the same operation (so the value is read under the lock).
   */
  lock (lock: QueueLock, opts?: { read?: string }): Promise<{ locked: boolean, value: number | undefined }>
  /** Raises a register of the queue (durable); resolves to its value. */
  raise (register: QueueRegister): Promise<number>
  /** A register of the queue; undefined when missing (or expired). */
  read (key: string): Promise<number | undefined>
  stats (): Promise<QueueStats>
  /**
   * Lists up to `count` waiting or in-flight entries with ids greater than `after`, in id
   * order, without handing them out (for queues that are read rather than consumed, such
   * as dead letters). Delayed entries that are not yet due are not listed.
   */
  peek (opts: { count: number, after?: string }): Promise<PeekedEntry[]>
  /** One waiting or in-flight entry by id, without handing it out. */
  get (id: string): Promise<PeekedEntry | undefined>
}

export type MessageHandler = (message: string) => void

/** Stands for the new value in the message of `Store.advance` (JSON escapes it in strings, so it cannot clash with text). */
export const ADVANCE_PLACEHOLDER = '\u0001'

export interface Store {
  readonly kind: 'embedded' | 'redis'

  get (key: string): Promise<Buffer | null>
  set (key: string, value: Buffer | string, opts?: SetOptions): Promise<void>
  /** Sets only if the key does not exist (a lock or a first writer); true when it was set. */
  setIfAbsent (key: string, value: Buffer | string, opts?: SetOptions): Promise<boolean>
  /** Deletes keys; resolves to how many existed. */
  delete (keys: readonly string[]): Promise<number>
  /** Atomically increments an integer counter (missing = 0); durable counters survive a crash. */
  incr (key: string, opts?: { durable?: boolean }): Promise<number>

  /**
   * Atomically raises an integer to at least `value` (missing = `value`) and resolves to
   * the result: a newest-wins register. `ttlMs` is (re)applied when the value changes.
   */
  setMax (key: string, value: number, opts?: { durable?: boolean, ttlMs?: number }): Promise<number>
  /**
   * Increments the counter `counter` and raises each of `registers` to its new value
   * (setMax, `ttlMs` as there); with `publish`, then publishes `message` on `channel` with
   * every ADVANCE_PLACEHOLDER in it replaced by the new value. Resolves to the new value.
   * One operation where the store can (a single Redis: one script, one round trip); on a
   * cluster the steps go one after the other, the keys being in different slots. (It is
   * what an invalidation of the response cache does: its sequence number, its tags'
   * stamps, the message to other instances.)
   */
  advance (counter: string, registers: readonly string[], opts?: { ttlMs?: number, publish?: { channel: string, message: string } }): Promise<number>
  /** Deletes the key only if it holds exactly `value` (releasing a lock one still owns). */
  deleteIfEquals (key: string, value: string): Promise<boolean>

  /** Adds members to a set (tags → cache keys). `ttlMs` refreshes the set's expiry. */
  addToSet (key: string, members: readonly string[], opts?: { ttlMs?: number }): Promise<void>
  setMembers (key: string): Promise<string[]>
  /** Removes a set and resolves to the members it had, in one atomic operation. */
  takeSet (key: string): Promise<string[]>
  /**
   * `takeSet` of several sets; resolves to each one's members, in order. One operation where
   * the store can (a single Redis: one script; on a cluster one command per key, the keys
   * being in different slots).
   */
  takeSets (keys: readonly string[]): Promise<string[][]>

  queue (name: string): DurableQueue

  /** Delivers to every subscriber in every process sharing this store (this one too). */
  publish (channel: string, message: string): Promise<void>
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>>

  /** Resolves when the store can serve requests, rejects with the reason otherwise. */
  ping (): Promise<void>
  /**
   * False while the store is known to be unreachable (Redis disconnected, or not answering
   * its heartbeat); true otherwise. Synchronous and cheap: the cache bypasses the store and
   * write routes refuse at once on false, rather than each request waiting for a timeout.
   */
  available (): boolean
  /** Flushes what must be durable and releases every resource. */
  close (): Promise<void>
}
