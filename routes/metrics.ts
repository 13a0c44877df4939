/**
 * The Prometheus endpoint (`observability.metrics`, docs/observability.md): text exposition
 * format, at the configured path, behind a Bearer token when one is configured. Exempt from
 * load shedding, like /health: an overloaded gateway is exactly when its numbers matter.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors.js'
import type { MetricsConfig } from '../src/config/observability-block.js'
import { exemptFromShedding } from '../plugins/overload.js'

export interface MetricsRouteOptions {
  config: MetricsConfig
}

/** Compared as digests: equal lengths for timingSafeEqual, and no hint of the token's length. */
function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function tokenMatches (header: string | undefined, expected: Buffer): boolean {
  const given = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1] : undefined
  return given !== undefined && timingSafeEqual(digest(given), expected)
}

export default async function metricsRoutes (app: FastifyInstance, opts: MetricsRouteOptions): Promise<void> {
  const { path, token } = opts.config
  const expected = token === undefined ? undefined : digest(token)
  app.get(path, { config: { pressureHandler: exemptFromShedding } }, async (request, reply) => {
    if (expected !== undefined && !tokenMatches(request.headers.authorization, expected)) {
      reply.header('www-authenticate', 'Bearer realm="junction-metrics"')
      throw errors.authenticationRequired('"Authorization: Bearer <metrics token>"')
    }
    const text = await app.metrics.text()
    return reply.type(app.metrics.contentType).send(text)
  })
}
