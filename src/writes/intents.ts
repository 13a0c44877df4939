/**
 * Write intents: recorded durably before the owner is called, acknowledged once the
 * write is either refused by the owner or its propagation is recorded in the outbox. An
 * intent still there after a crash (or a lost owner answer) is resolved by ./recovery.ts.
 *
 * They live in one DurableQueue of the store: the embedded journal keeps them across a
 * restart, Redis shares them between instances (any instance may resolve any intent).
 */

import { isUtf8 } from 'node:buffer'

export const INTENT_QUEUE = 'write-intents'

export interface Intent {
  /** `METHOD /gateway/path` of the route (see routeKey), and its index when recorded. */
  readonly route: string
  readonly routeIndex: number
  /** Values of the route's path params. */
  readonly params: Readonly<Record<string, string>>
  /** Owner path as called (for POST, the collection). */
  readonly ownerPath: string
  /** The entity's owner path when known before the call (all but POST; POST when the body names the id). */
  readonly entityPath: string | undefined
  readonly writeId: string
  /** Epoch ms when recorded: recovery leaves younger intents to the request still handling them. */
  readonly createdAt: number
  /** The client request's id and Junction's span for it: a recovered write's deliveries join its trace. Absent in older intents. */
  readonly requestId?: string | undefined
  readonly traceparent?: string | undefined
  readonly tracestate?: string | undefined
  /**
   * What recovery needs to re-send a POST whose owner honours Idempotency-Key
   * (`write.owner.idempotencyKey`): the key sent, the body and its media type. Only on
   * such routes (others pay nothing); the body is bounded by the route's body limit.
   */
  readonly replay?: PostReplay | undefined
}

export interface PostReplay {
  readonly idempotencyKey: string
  readonly body: Buffer | undefined
  readonly contentType: string | undefined
}

export function encodeIntent (intent: Intent): Record<string, string> {
  const fields: Record<string, string> = {
    route: intent.route,
    routeIndex: String(intent.routeIndex),
    params: JSON.stringify(intent.params),
    ownerPath: intent.ownerPath,
    writeId: intent.writeId,
    createdAt: String(intent.createdAt)
  }
  if (intent.entityPath !== undefined) fields.entityPath = intent.entityPath
  if (intent.requestId !== undefined) fields.rid = intent.requestId
  if (intent.traceparent !== undefined) fields.tp = intent.traceparent
  if (intent.tracestate !== undefined) fields.ts = intent.tracestate
  const replay = intent.replay
  if (replay !== undefined) {
    fields.ik = replay.idempotencyKey
    // Byte for byte: JSON is UTF-8 text and stored as is; anything else (invalid UTF-8
    // inside a JSON string) as base64, so the re-sent body is the one first sent.
    if (replay.body !== undefined) {
      if (isUtf8(replay.body)) fields.b = replay.body.toString('utf8')
      else fields.b64 = replay.body.toString('base64')
    }
    if (replay.contentType !== undefined) fields.ct = replay.contentType
  }
  return fields
}

/** Undefined for an entry that is not an intent (written by another version, or damaged). */
export function decodeIntent (fields: Readonly<Record<string, string>>): Intent | undefined {
  const { route, routeIndex, params, ownerPath, writeId, createdAt, entityPath, rid, tp, ts, ik, b, b64, ct } = fields
  if (route === undefined || params === undefined || ownerPath === undefined || writeId === undefined || createdAt === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(params)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const values: Record<string, string> = {}
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') values[k] = v
  const at = Number(createdAt)
  return {
    route,
    routeIndex: Number(routeIndex ?? -1),
    params: values,
    ownerPath,
    entityPath,
    writeId,
    createdAt: Number.isFinite(at) ? at : 0,
    requestId: rid,
    traceparent: tp,
    tracestate: ts,
    replay: ik === undefined
      ? undefined
      : { idempotencyKey: ik, body: b !== undefined ? Buffer.from(b, 'utf8') : b64 !== undefined ? Buffer.from(b64, 'base64') : undefined, contentType: ct }
  }
}
