/**
 * One compose route at runtime, without Fastify: request in (params, query, headers),
 * response out (status, headers, body). plugins/compose-routes.ts only wires it to a route.
 *
 * The answer: 200 with the composed JSON, a strong ETag over its bytes, `Vary` on the
 * request headers it depends on, and `Junction-Partial: a, b` naming the optional parts it
 * lacks (then also `Cache-Control: no-store`: a degraded answer must not be kept by caches);
 * 304 when If-None-Match matches. A required part's failure is thrown (RequiredPartFailed).
 */
import type { ComposeRouteConfig } from '../config/compose-route.js'
import type { ServicePool } from '../upstream/service-pool.js'
import { composedEtag, ifNoneMatchMatches } from './etag.js'
import { describeFailure, execute, type ComposeRequest } from './executor.js'
import { compilePlan, type ComposePlan } from './plan.js'
import { composedBody } from './shape.js'

export const PARTIAL_HEADER = 'junction-partial'

export interface ComposeResponse {
  readonly status: 200 | 304
  readonly headers: Record<string, string>
  /** The JSON document (UTF-8); undefined for 304. */
  readonly body: Buffer | undefined
  /** Optional parts missing from the answer and why, for the log. */
  readonly missing: ReadonlyArray<{ readonly part: string, readonly reason: string }>
  /** Bodies of the parts that answered, by name: what cache tags like `{company.id}` read. */
  readonly parts: ReadonlyMap<string, unknown>
}

const NONE_MISSING: ComposeResponse['missing'] = Object.freeze([])

export class Composer {
  readonly plan: ComposePlan
  readonly #service: (name: string) => ServicePool

  constructor (route: ComposeRouteConfig, service: (name: string) => ServicePool) {
    this.#service = service
    this.plan = compilePlan(route, name => service(name).config.timeoutMs)
  }

  async compose (request: ComposeRequest): Promise<ComposeResponse> {
    const execution = await execute(this.plan, request, this.#service)
    // Hashed, then sent as it is.
    const body = composedBody(this.plan, execution.outcomes)
    const etag = composedEtag(body)
    const headers: Record<string, string> = { etag }
    if (this.plan.varyHeader !== undefined) headers.vary = this.plan.varyHeader
    const missing = execution.missing.length === 0
      ? NONE_MISSING
      : execution.missing.map(part => {
        const outcome = execution.outcomes.get(part)
        const failure = outcome?.status === 'failed' ? outcome.failure : outcome?.status === 'collection' ? outcome.failure : undefined
        return { part, reason: failure === undefined ? 'unknown' : describeFailure(failure) }
      })
    if (missing.length > 0) {
      headers[PARTIAL_HEADER] = execution.missing.join(', ')
      headers['cache-control'] = 'no-store'
    }
    const parts = execution.bodies
    const inm = request.headers['if-none-match']
    if (ifNoneMatchMatches(Array.isArray(inm) ? inm.join(', ') : inm, etag)) {
      return { status: 304, headers, body: undefined, missing, parts }
    }
    headers['content-type'] = 'application/json; charset=utf-8'
    return { status: 200, headers, body, missing, parts }
  }
}
