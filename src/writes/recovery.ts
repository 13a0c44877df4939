/**
 * Resolves write intents nobody finished: the gateway died between recording an intent
 * and acknowledging it, or the owner's answer was lost (timeout, reset, 5xx). For each,
 * the owner's *current* state is what matters, not what the lost write sent:
 *
 * - GET the entity on the owner; for every service keeping a copy, if the owner's version
 *   is newer than the newest version ever enqueued for it (`latestEnqueued`), enqueue it;
 * - a POST whose created id was in the lost answer: if its owner honours Idempotency-Key
 *   (`write.owner.idempotencyKey`), re-send it with the same key and body; the owner
 *   answers with the first result (or commits it now, once), which names the id and
 *   version, propagated the same way. Otherwise it cannot be found: logged and dropped;
 * - 404/410 with an integer ETag: the owner says which tombstone version it holds, and
 *   that tombstone is propagated the same way. 404/410 without one: Junction cannot know
 *   the tombstone's version and does not guess (a guess below the copy's version would
 *   be refused, one above it would block the re-creation); it logs and drops the intent,
 *   and the copies catch up at the entity's next write (docs/versioning.md);
 * - owner unreachable or 5xx: leave the intent; it comes back after the visibility
 *   timeout and is tried again.
 *
 * Intents younger than `thresholdMs` belong to a request that may still be running (the
 * threshold exceeds the owner call's worst case): they are claimed with a visibility of
 * `thresholdMs` and left alone, so they come back exactly when they become eligible.
 * Several instances sharing Redis compete for intents like for any queue entry.
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { Outbox } from '../outbox/types.js'
import type { DurableQueue, QueueEntry } from '../store/store.js'
import type { Upstreams } from '../upstream/service-pool.js'
import { entityKey } from '../versioning/entity.js'
import { extractVersion, versionFromEtag } from '../versioning/version.js'
import { createdId as findCreatedId } from '../versioning/entity.js'
import { pathValueProblem } from '../upstream/request-target.js'
import { type CompiledWriteRoute, entityPathOf, routeKey } from './compiled-route.js'
import { deliveriesFor } from './deliveries.js'
import { decodeIntent, type Intent, type PostReplay } from './intents.js'
import type { WriteLog } from './log.js'
import { callService } from './owner-call.js'

export interface RecoveryOptions {
  readonly intents: DurableQueue
  readonly outbox: Outbox
  readonly upstreams: Upstreams
  readonly routes: readonly CompiledWriteRoute[]
  readonly log: WriteLog
  /** Age at which an intent is presumed abandoned; must exceed the longest owner call. */
  readonly thresholdMs: number
  /** How often to look for abandoned intents. */
  readonly intervalMs: number
}

/** Intents claimed per round, and rounds per tick: bounded work per tick, the rest waits for the next. */
const BATCH = 64
const MAX_ROUNDS = 16

export type Resolution = 'propagated' | 'current' | 'dropped' | 'retry'

/** The owner's version of an entity and its representation (null: a tombstone). */
interface OwnerState {
  readonly version: number
  readonly representation: Record<string, unknown> | null
}

export class IntentRecovery {
  readonly #opts: RecoveryOptions
  readonly #consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  readonly #byKey = new Map<string, CompiledWriteRoute>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined
  #closed = false

  constructor (opts: RecoveryOptions) {
    this.#opts = opts
    for (const route of opts.routes) this.#byKey.set(routeKey(route.config), route)
  }

  start (): void {
    if (this.#closed || this.#timer !== undefined) return
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return
      this.#running = this.runOnce()
        .catch((err: unknown) => { this.#opts.log.warn({ err }, 'write intent recovery failed; retrying at the next tick') })
        .finally(() => { this.#running = undefined })
    }, this.#opts.intervalMs)
    this.#timer.unref()
  }

  /** Stops the loop and waits for the tick in progress. */
  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /** One pass over the abandoned intents; resolves to how many were resolved (acknowledged). */
  async runOnce (): Promise<number> {
    const queue = this.#opts.intents
    const stats = await queue.stats()
    const now = Date.now()
    if (stats.length === 0 || (stats.oldestAt !== undefined && now - stats.oldestAt < this.#opts.thresholdMs)) return 0
    let resolved = 0
    for (let round = 0; round < MAX_ROUNDS && !this.#closed; round++) {
      const entries = await queue.claim(this.#consumer, { count: BATCH, visibilityMs: this.#opts.thresholdMs })
      const due = entries.filter(entry => this.#isDue(entry))
      const done: string[] = []
      await Promise.all(due.map(async entry => {
        const outcome = await this.#resolveEntry(entry)
        if (outcome !== 'retry') done.push(entry.id)
      }))
      if (done.length > 0) await queue.ack(done)
      resolved += done.length
      // Fewer than asked, or only young ones left: the rest is for a later tick.
      if (entries.length < BATCH || due.length === 0) break
    }
    return resolved
  }

  #isDue (entry: QueueEntry): boolean {
    const createdAt = Number(entry.fields.createdAt)
    return !Number.isFinite(createdAt) || Date.now() - createdAt >= this.#opts.thresholdMs
  }

  async #resolveEntry (entry: QueueEntry): Promise<Resolution> {
    const intent = decodeIntent(entry.fields)
    if (intent === undefined) {
      this.#opts.log.warn({ id: entry.id }, 'dropping a write intent that cannot be read')
      return 'dropped'
    }
    const route = this.#byKey.get(intent.route)
    if (route === undefined) {
      this.#opts.log.warn({ route: intent.route, writeId: intent.writeId }, 'dropping a write intent of a route no longer configured')
      return 'dropped'
    }
    try {
      return await this.resolve(route, intent)
    } catch (err) {
      this.#opts.log.warn({ err, route: intent.route, path: intent.entityPath ?? intent.ownerPath, attempt: entry.deliveries }, 'could not resolve a write intent yet; it will be retried')
      return 'retry'
    }
  }

  /** Reads the owner's current state of the intent's entity and propagates it where it is newer. */
  async resolve (route: CompiledWriteRoute, intent: Intent): Promise<Resolution> {
    const { outbox, log } = this.#opts
    const config = route.config
    const service = config.owner.service
    let entityPath = intent.entityPath
    let state: OwnerState | undefined
    if (entityPath === undefined) {
      if (intent.replay === undefined) {
        // A POST whose id the owner chose, to an owner not declared to honour Idempotency-Key: the id was in the lost answer only.
        log.warn({ route: intent.route, writeId: intent.writeId }, 'a POST was interrupted before the owner\'s answer named the created id; its copies are updated at the entity\'s next write (set write.owner.idempotencyKey if the owner honours Idempotency-Key)')
        return 'dropped'
      }
      const replayed = await this.#replayPost(route, intent, intent.replay)
      if (replayed === undefined) return 'dropped'
      entityPath = replayed.entityPath
      state = replayed.state
    }
    if (state === undefined) {
      const read = await this.#readOwner(route, entityPath, intent)
      if (read === 'dropped') return 'dropped'
      state = read
    }
    const { version, representation } = state

    const entity = entityKey(service, entityPath)
    const stale = new Set<string>()
    for (const target of route.propagate) {
      const latest = await outbox.latestEnqueued(target.service, entity)
      if (latest === undefined || version > latest) stale.add(target.service)
    }
    if (stale.size === 0) return 'current'
    const createdId = config.method === 'POST' ? decodeURIComponent(entityPath.split('/').at(-1) ?? '') : undefined
    const deliveries = deliveriesFor(route, {
      entityPath,
      version,
      representation,
      params: intent.params,
      createdId,
      // Deterministic: if recovery itself is interrupted and re-run, the dependent sees the same key for the same version.
      writeId: `${intent.writeId}.r${version}`
    }, dependent => stale.has(dependent), {
      // The interrupted request's trace and id, when the intent has them.
      requestId: intent.requestId,
      trace: intent.traceparent === undefined ? undefined : { traceparent: intent.traceparent, tracestate: intent.tracestate }
    })
    await outbox.enqueue(deliveries)
    log.info({ service, path: entityPath, version, dependents: [...stale] }, 'recovered a write: propagated the owner\'s current version')
    return 'propagated'
  }

  /**
   * Re-sends an interrupted POST with its Idempotency-Key and body: an owner that honours
   * the key answers with the first result if it committed (nothing is created twice), or
   * commits it now if the first call never arrived (the client had no answer either way).
   * Resolves to the created entity and, when the answer carries them, its version and
   * representation; undefined when the owner refused (logged). Throws to retry later.
   */
  async #replayPost (route: CompiledWriteRoute, intent: Intent, replay: PostReplay): Promise<{ entityPath: string, state: OwnerState | undefined } | undefined> {
    const { upstreams, log } = this.#opts
    const config = route.config
    const service = config.owner.service
    const headers: Record<string, string> = { ...traceHeaders(intent), accept: 'application/json', 'idempotency-key': replay.idempotencyKey }
    if (replay.contentType !== undefined) headers['content-type'] = replay.contentType
    const answer = await callService(upstreams.get(service), { method: 'POST', path: intent.ownerPath, headers, body: replay.body })
    if (answer.status >= 500) throw new Error(`owner answered ${answer.status} to the re-sent POST`)
    if (answer.status < 200 || answer.status >= 300) {
      log.warn({ service, path: intent.ownerPath, status: answer.status, writeId: intent.writeId }, 'the owner refused a re-sent POST; nothing to propagate')
      return undefined
    }
    const createdId = findCreatedId(answer.headers.location as string | undefined, answer.json)
    if (createdId === undefined || pathValueProblem(createdId) !== undefined) {
      log.warn({ service, path: intent.ownerPath, writeId: intent.writeId }, 'the owner\'s answer to a re-sent POST names no usable created id (Location or "id"); cannot propagate')
      return undefined
    }
    const entityPath = entityPathOf(route, intent.params, createdId)
    const version = extractVersion(config.owner.version, answer.headers, answer.json)
    // The first answer, replayed: its version may be older than the owner's now, which only makes it superseded.
    const state = version !== undefined && isObject(answer.json) ? { version, representation: answer.json } : undefined
    return { entityPath, state }
  }

  /** The owner's current version and representation of an entity (null for a tombstone); 'dropped' when it cannot be had (logged). Throws to retry later. */
  async #readOwner (route: CompiledWriteRoute, entityPath: string, intent: Intent): Promise<OwnerState | 'dropped'> {
    const { upstreams, log } = this.#opts
    const config = route.config
    const service = config.owner.service
    const read = await callService(upstreams.get(service), { method: 'GET', path: entityPath, headers: { ...traceHeaders(intent), accept: 'application/json' } })
    if (read.status >= 500) throw new Error(`owner answered ${read.status}`)
    if (read.status === 404 || read.status === 410) {
      const version = versionFromEtag(read.headers.etag)
      if (version === undefined) {
        log.warn({ service, path: entityPath }, 'the entity is gone and the owner gives no tombstone version; copies are not told (see docs/versioning.md)')
        return 'dropped'
      }
      return { version, representation: null }
    }
    if (read.status === 200 && isObject(read.json)) {
      const version = extractVersion(config.owner.version, read.headers, read.json)
      if (version === undefined) {
        log.warn({ service, path: entityPath }, 'the owner\'s answer has no version; cannot propagate')
        return 'dropped'
      }
      return { version, representation: read.json }
    }
    log.warn({ service, path: entityPath, status: read.status }, 'unexpected owner answer while resolving a write intent; dropping it')
    return 'dropped'
  }
}

/**
 * How old an intent must be before recovery may take it over: longer than the request
 * that recorded it can still be running (an owner call and a read-back, each bounded by
 * the service's connect and response timeouts), plus a margin.
 */
export function recoveryThresholdMs (owners: ReadonlyArray<{ timeoutMs: number, connectTimeoutMs: number }>): number {
  const longest = Math.max(0, ...owners.map(o => o.timeoutMs + o.connectTimeoutMs))
  return 2 * longest + 1000
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The interrupted request's trace context, so the owner sees recovery's calls in the write's trace. */
function traceHeaders (intent: Intent): Record<string, string> {
  if (intent.traceparent === undefined) return {}
  return intent.tracestate === undefined ? { traceparent: intent.traceparent } : { traceparent: intent.traceparent, tracestate: intent.tracestate }
}
