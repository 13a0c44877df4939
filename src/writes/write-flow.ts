/**
 * One client write through Junction (docs/versioning.md):
 *
 *   1. record an intent durably (so a crash anywhere after this point is recovered);
 *   2. call the owner with the client's body and If-Match (428 first when the route
 *      requires If-Match and the client sent none);
 *   3. on a non-2xx answer (412, 4xx, 5xx) propagate nothing and pass the answer on;
 *   4. take the committed version and representation from the answer (read back with
 *      GET when it lacks them); POST finds the new id in Location or the body; DELETE
 *      takes the tombstone's version from the ETag;
 *   5. enqueue one delivery per service keeping a copy (durable before it resolves);
 *   6. acknowledge the intent and answer the client with the owner's answer.
 *
 * When the outcome of the owner call is unknown (timeout, reset, 5xx), the intent is left
 * for recovery, which reads the owner's current version and propagates it if newer.
 * Plain TypeScript: plugins/write-routes.ts wires it to Fastify.
 */
import { randomUUID } from 'node:crypto'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { errors } from '../errors.js'
import type { Outbox } from '../outbox/types.js'
import type { DurableQueue, Store } from '../store/store.js'
import type { Upstreams } from '../upstream/service-pool.js'
import { createdId as findCreatedId } from '../versioning/entity.js'
import { extractVersion, versionFromEtag } from '../versioning/version.js'
import { type CompiledWriteRoute, entityPathOf, ownerPathOf, routeKey } from './compiled-route.js'
import { type Committed, deliveriesFor } from './deliveries.js'
import { encodeIntent, type PostReplay } from './intents.js'
import type { WriteLog } from './log.js'
import { callService, certainlyNotDelivered, type ServiceAnswer } from './owner-call.js'
import { ifMatchProblem } from './if-match.js'
import { pathValueProblem } from '../upstream/request-target.js'

export interface WriteRequest {
  readonly params: Readonly<Record<string, string>>
  /** Headers toward the owner (hygiene already applied): If-Match and the client's others. */
  readonly headers: Record<string, string | string[]>
  /** The client's body, exactly as sent; undefined when there is none. */
  readonly body: Buffer | undefined
  /** The same body parsed (JSON), when there is one. */
  readonly json: unknown
  /** The client request's id: stored with each delivery, for its log lines. */
  readonly requestId?: string
  /** Junction's span for the request: stored with each delivery, so every attempt joins the trace. */
  readonly trace?: { readonly traceparent: string, readonly tracestate: string | undefined }
  /**
   * Called once the owner answered 2xx (the write committed), and run beside the recording
   * of the deliveries: execute() resolves or rejects only after it settled. The write route
   * invalidates the response cache here. Must not reject (it is awaited for its timing only).
   */
  readonly afterCommit?: (answer: ServiceAnswer) => Promise<void>
}

export interface WriteAnswer {
  readonly status: number
  readonly headers: OutgoingHttpHeaders
  readonly body: Buffer
  /** Origin of the owner instance that answered, for the request log. */
  readonly origin: string
  /** The version propagated, when the write committed. */
  readonly version?: number
}

/** Retry-After of a write refused while the store is unreachable. */
const STORE_RETRY_AFTER_S = 1

export interface WriteFlowDeps {
  /** Whether the store is up: a write is refused at once while it is known to be down. */
  readonly store: Pick<Store, 'kind' | 'available'>
  readonly intents: DurableQueue
  readonly outbox: Outbox
  readonly upstreams: Upstreams
  readonly log: WriteLog
}

export class WriteFlow {
  readonly #deps: WriteFlowDeps
  #pendingAcks: string[] = []

  constructor (deps: WriteFlowDeps) {
    this.#deps = deps
  }

  async execute (route: CompiledWriteRoute, req: WriteRequest): Promise<WriteAnswer> {
    const config = route.config
    const owner = this.#deps.upstreams.get(config.owner.service)
    if (config.requireIfMatch && req.headers['if-match'] === undefined) {
      throw errors.preconditionRequired(config.method, config.path)
    }
    const ifMatch = ifMatchProblem(req.headers['if-match'])
    if (ifMatch !== undefined) throw ifMatch

    // Known to be down: refuse before any work, rather than after the store's timeout.
    if (!this.#deps.store.available()) throw errors.storeUnavailable(this.#deps.store.kind, STORE_RETRY_AFTER_S)

    const ownerPath = ownerPathOf(route, req.params)
    const writeId = randomUUID()
    // A POST to an owner that honours Idempotency-Key: the key goes with the call and the
    // body with the intent, so recovery can re-send it and learn the created id.
    const replay = config.method === 'POST' && config.owner.idempotencyKey ? replayOf(req, writeId) : undefined
    // POST: the client may name the id in its body; recovery can then find the entity even if the answer is lost.
    // Client-written: a hint that could not be a path segment (`..`) is no hint. Unused
    // when the POST can be re-sent: the owner's answer then says which id it created.
    const written = config.method === 'POST' && replay === undefined ? findCreatedId(undefined, req.json) : undefined
    const hintedId = written !== undefined && pathValueProblem(written) === undefined ? written : undefined
    let intentId: string
    try {
      intentId = await this.#deps.intents.append(encodeIntent({
        route: routeKey(config),
        routeIndex: config.index,
        params: req.params,
        ownerPath,
        entityPath: config.method !== 'POST' ? ownerPath : hintedId === undefined ? undefined : entityPathOf(route, req.params, hintedId),
        writeId,
        createdAt: Date.now(),
        requestId: req.requestId,
        traceparent: req.trace?.traceparent,
        tracestate: req.trace?.tracestate,
        replay
      }))
    } catch (err) {
      // Nothing was sent to the owner: refusing is safe, and better than a write without its safety net.
      throw errors.storeUnavailable(this.#deps.store.kind, STORE_RETRY_AFTER_S, err)
    }

    let answer: ServiceAnswer
    try {
      const headers = replay === undefined ? req.headers : { ...req.headers, 'idempotency-key': replay.idempotencyKey }
      answer = await callService(owner, { method: config.method as Dispatcher.HttpMethod, path: ownerPath, headers, body: req.body })
    } catch (err) {
      // A timeout or reset may hide a committed write: leave the intent, recovery reads the owner and decides.
      if (certainlyNotDelivered(err)) await this.#ack(intentId)
      throw err
    }

    if (answer.status < 200 || answer.status >= 300) {
      // 412, 404, 400...: the owner refused, nothing committed. A 5xx may still hide a commit: recovery checks.
      if (answer.status < 500) await this.#ack(intentId)
      return answer
    }

    // Beside the deliveries, not after them: both must be done before the client's answer,
    // neither needs the other, and each store round trip on the answer's path is latency
    // every client waits for (and, under load, turns of an event loop that grow longer).
    const afterCommit = req.afterCommit?.(answer).catch(() => {})
    try {
      const committed = await this.#committed(route, req, answer, ownerPath, writeId)
      if (committed === undefined) {
        // The entity vanished between the write and the read-back: the later write (a delete) propagates itself.
        await this.#ack(intentId)
        return answer
      }
      try {
        await this.#deps.outbox.enqueue(deliveriesFor(route, committed, undefined, { requestId: req.requestId, trace: req.trace }))
      } catch (err) {
        // The intent stays: recovery propagates the owner's current version.
        throw errors.writeNotRecorded(config.owner.service, err)
      }
      // Not awaited: every delivery is already durable, which is what the client's 2xx
      // promises. Should the ack be lost, recovery finds nothing newer than what was
      // enqueued and drops the intent. Saves one store round trip per write; and the acks
      // of the writes that complete in one turn of the event loop go out as one.
      this.#ackSoon(intentId)
      return { ...answer, version: committed.version }
    } finally {
      await afterCommit
    }
  }

  /** The committed version and representation of a 2xx owner answer, read back with GET when the answer lacks them. */
  async #committed (route: CompiledWriteRoute, req: WriteRequest, answer: ServiceAnswer, ownerPath: string, writeId: string): Promise<Committed | undefined> {
    const config = route.config
    const service = config.owner.service
    let entityPath = ownerPath
    let createdId: string | undefined
    if (config.method === 'POST') {
      createdId = findCreatedId(answer.headers.location as string | undefined, answer.json)
      if (createdId === undefined) throw errors.ownerAnswerUnusable(service, 'the created entity\'s id (no Location header, no "id" in the body)')
      // The id goes into the copies' paths: `..` there would write somewhere else on the dependents.
      const unusable = pathValueProblem(createdId)
      if (unusable !== undefined) throw errors.ownerAnswerUnusable(service, `a created entity id that can be a path segment (${JSON.stringify(createdId.slice(0, 40))} ${unusable})`)
      entityPath = entityPathOf(route, req.params, createdId)
    }
    const base = { entityPath, params: req.params, createdId, writeId }

    if (config.method === 'DELETE') {
      // A tombstone's version: where the route says, else the ETag (a 204 has no body).
      const version = extractVersion(config.owner.version, answer.headers, answer.json) ?? versionFromEtag(answer.headers.etag)
      if (version === undefined) throw errors.ownerAnswerUnusable(service, 'the tombstone\'s version (an integer ETag such as "8")')
      return { ...base, version, representation: null }
    }

    const version = extractVersion(config.owner.version, answer.headers, answer.json)
    if (version !== undefined && isObject(answer.json)) return { ...base, version, representation: answer.json }

    // The answer lacks the version or the representation: read the entity back.
    const read = await callService(this.#deps.upstreams.get(service), { method: 'GET', path: entityPath, headers: { accept: 'application/json' } })
    if (read.status === 404 || read.status === 410) return undefined
    const readVersion = extractVersion(config.owner.version, read.headers, read.json)
    if (read.status !== 200 || readVersion === undefined || !isObject(read.json)) {
      this.#deps.log.error({ service, path: entityPath, status: read.status }, 'write committed but the owner\'s read-back has no version or representation')
      throw errors.ownerAnswerUnusable(service, config.owner.version.kind === 'etag' ? 'an integer ETag and a JSON representation, also on read-back' : `the "${config.owner.version.field}" field and a JSON representation, also on read-back`)
    }
    // The read-back may already show a later write; propagating it is still correct (newest wins).
    return { ...base, version: readVersion, representation: read.json }
  }

  /** Acknowledges intents in batches: the ids gathered during one turn of the event loop. */
  #ackSoon (intentId: string): void {
    this.#pendingAcks.push(intentId)
    if (this.#pendingAcks.length > 1) return
    setImmediate(() => {
      const ids = this.#pendingAcks
      this.#pendingAcks = []
      this.#deps.intents.ack(ids).catch((err: unknown) => {
        this.#deps.log.warn({ err, intents: ids.length }, 'could not acknowledge write intents; recovery will resolve them')
      })
    })
  }

  async #ack (intentId: string): Promise<void> {
    try {
      await this.#deps.intents.ack([intentId])
    } catch (err) {
      // Harmless: recovery finds nothing newer than what was propagated and drops it.
      this.#deps.log.warn({ err, intentId }, 'could not acknowledge a write intent; recovery will resolve it')
    }
  }
}

/**
 * The Idempotency-Key of a POST and what re-sending it takes. The client's own key when
 * it sent one (its retries stay recognisable by the owner, and recovery replays the same
 * request); otherwise the write's id.
 */
function replayOf (req: WriteRequest, writeId: string): PostReplay {
  const own = req.headers['idempotency-key']
  const contentType = req.headers['content-type']
  return {
    idempotencyKey: typeof own === 'string' && own.trim() !== '' ? own : writeId,
    body: req.body,
    contentType: typeof contentType === 'string' ? contentType : undefined
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
