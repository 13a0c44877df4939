/**
 * One buffered call to a service, for the write path: unlike the proxy, a write needs
 * the owner's whole answer (its version and representation) before it can answer the
 * client and propagate. Answers are bounded so a misbehaving owner cannot exhaust memory.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { errors, JunctionError } from '../errors.js'
import { upstreamError } from '../upstream/error-map.js'
import { AnswerTooLargeError, bufferedCall } from '../upstream/buffered-call.js'
import { clientResponseHeaders } from '../upstream/headers.js'
import type { ServicePool } from '../upstream/service-pool.js'

/** Largest owner answer read into memory (an entity representation, not a download). */
export const MAX_OWNER_ANSWER_BYTES = 16 * 1024 * 1024

export interface ServiceAnswer {
  readonly status: number
  readonly headers: OutgoingHttpHeaders
  readonly body: Buffer
  /** The body parsed as JSON when it is JSON, else undefined. */
  readonly json: unknown
  readonly origin: string
}

export interface ServiceCall {
  readonly method: Dispatcher.HttpMethod
  readonly path: string
  readonly headers: Record<string, string | string[]>
  readonly body?: Buffer | undefined
}

export async function callService (service: ServicePool, call: ServiceCall): Promise<ServiceAnswer> {
  const upstream = service.pick()
  const started = performance.now()
  try {
    const headers = { ...call.headers }
    delete headers['content-length']
    delete headers['transfer-encoding']
    if (call.body !== undefined) headers['content-length'] = String(call.body.length)
    const res = await bufferedCall(upstream.pool, { method: call.method, path: call.path, headers, body: call.body, maxBytes: MAX_OWNER_ANSWER_BYTES, overflow: 'fail' })
    service.signals.answered((performance.now() - started) / 1000)
    return { status: res.status, headers: clientResponseHeaders(res.headers), body: res.body, json: parseJson(res.headers['content-type'], res.body), origin: upstream.origin }
  } catch (err) {
    const mapped = err instanceof AnswerTooLargeError ? errors.upstreamFailed(service.name, err) : upstreamError(service.config, err)
    service.signals.failed(mapped.code)
    throw mapped
  }
}

/** JSON and `+json` media types (problem+json, merge-patch+json), parsed; anything else undefined. */
function parseJson (contentType: string | string[] | undefined, body: Buffer): unknown {
  const type = (Array.isArray(contentType) ? contentType[0] : contentType) ?? ''
  if (body.length === 0 || !/^application\/([\w.-]+\+)?json\b/i.test(type.trim())) return undefined
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * Whether a failed call certainly never reached the service (nothing can have been
 * committed), as opposed to a timeout or a reset after sending, where it may have.
 */
export function certainlyNotDelivered (err: unknown): boolean {
  return err instanceof JunctionError &&
    (err.code === errors.upstreamUnavailable.code || err.code === errors.upstreamConnectTimeout.code)
}
