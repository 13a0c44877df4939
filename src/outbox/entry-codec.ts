/**
 * Queue entry fields ↔ outbox records. A pending delivery carries everything needed to
 * retry it after a crash (attempts so far, when it was first enqueued, the last answer);
 * a dead letter adds why and when it died. Unreadable entries decode to undefined.
 */
import type { DeadLetter, DeliveryRequest } from './types.js'

export interface LastResponse { readonly status: number, readonly body: string }

export interface PendingDelivery {
  readonly request: DeliveryRequest
  /** Attempts made so far. */
  readonly attempts: number
  /** Epoch ms of the first enqueue (or of the replay): the max-age clock. */
  readonly firstAt: number
  readonly last?: LastResponse | undefined
  /** The last transport error, when there was no answer. */
  readonly lastError?: string | undefined
}

/** The field naming a pending delivery's entity: the claim takes its lease by it (ClaimLock). */
export const ENTITY_FIELD = 'e'

export function encodePending (p: PendingDelivery): Record<string, string> {
  const fields: Record<string, string> = { r: JSON.stringify(p.request), a: String(p.attempts), f: String(p.firstAt), [ENTITY_FIELD]: p.request.entity }
  if (p.last !== undefined) fields.last = JSON.stringify(p.last)
  if (p.lastError !== undefined) fields.err = p.lastError
  return fields
}

export function decodePending (fields: Readonly<Record<string, string>>): PendingDelivery | undefined {
  const request = decodeRequest(fields.r)
  const attempts = Number(fields.a)
  const firstAt = Number(fields.f)
  if (request === undefined || !Number.isSafeInteger(attempts) || !Number.isFinite(firstAt)) return undefined
  return { request, attempts, firstAt, last: decodeLast(fields.last), lastError: fields.err }
}

export function encodeDead (d: Omit<DeadLetter, 'id'>): Record<string, string> {
  const fields: Record<string, string> = { r: JSON.stringify(d.request), a: String(d.attempts), dt: String(d.deadAt), why: d.reason }
  if (d.lastResponse !== undefined) fields.last = JSON.stringify(d.lastResponse)
  return fields
}

export function decodeDead (id: string, fields: Readonly<Record<string, string>>): DeadLetter | undefined {
  const request = decodeRequest(fields.r)
  if (request === undefined) return undefined
  const last = decodeLast(fields.last)
  const letter = { id, request, attempts: Number(fields.a), deadAt: Number(fields.dt), reason: fields.why ?? '' }
  return last === undefined ? letter : { ...letter, lastResponse: last }
}

function decodeRequest (text: string | undefined): DeliveryRequest | undefined {
  if (text === undefined) return undefined
  try {
    const r = JSON.parse(text) as DeliveryRequest
    if (typeof r !== 'object' || r === null || typeof r.dependent !== 'string' || typeof r.entity !== 'string' ||
      !Number.isSafeInteger(r.version) || typeof r.path !== 'string' || (r.method !== 'PUT' && r.method !== 'DELETE')) return undefined
    return r
  } catch {
    return undefined
  }
}

function decodeLast (text: string | undefined): LastResponse | undefined {
  if (text === undefined) return undefined
  try {
    const last = JSON.parse(text) as LastResponse
    return typeof last.status === 'number' && typeof last.body === 'string' ? { status: last.status, body: last.body } : undefined
  } catch {
    return undefined
  }
}
