/**
 * Registers the configured compose routes (`get:`): GET, and HEAD through Fastify's
 * exposeHeadRoute. Each answers with one JSON document composed by src/compose/ from its
 * parts; a required part's failure becomes problem+json through plugins/problem-details.ts.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteConfig } from '../src/config/types.js'
import type { ComposeRouteConfig } from '../src/config/compose-route.js'
import { Composer } from '../src/compose/composer.js'
import { RequiredPartFailed, describeFailure } from '../src/compose/executor.js'
import { errors } from '../src/errors.js'

export interface ComposeRoutesOptions {
  routes: readonly RouteConfig[]
}

function registerComposeRoute (app: FastifyInstance, route: ComposeRouteConfig): void {
  const composer = new Composer(route, name => app.upstreams.get(name))

  async function compose (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const controller = new AbortController()
    // The client went away before we answered: stop every part call too.
    const onClose = (): void => { if (!reply.raw.writableFinished) controller.abort() }
    reply.raw.once('close', onClose)
    try {
      const res = await composer.compose({
        params: request.params as Record<string, string>,
        query: request.query as Record<string, string | string[]>,
        headers: request.headers,
        requestId: request.id,
        signal: controller.signal
      })
      if (res.missing.length > 0) request.log.warn({ route: route.path, missing: res.missing }, 'composed a partial response')
      reply.code(res.status).headers(res.headers)
      return res.body === undefined ? reply.send() : reply.send(res.body)
    } catch (err) {
      // Parts fail as "cancelled" when the client left: that is not a gateway error.
      if (controller.signal.aborted) throw errors.clientClosed()
      if (err instanceof RequiredPartFailed) {
        request.log.warn({ route: route.path, part: err.part, reason: describeFailure(err.failure) }, 'a required part failed')
        throw err.error
      }
      throw err
    }
  }

  app.route({ method: 'GET', url: route.path, handler: compose })
}

export default fp<ComposeRoutesOptions>(async function composeRoutes (app, opts) {
  for (const route of opts.routes) {
    if (route.kind === 'compose') registerComposeRoute(app, route)
  }
}, { name: 'compose-routes', fastify: '5.x', dependencies: ['upstreams'] })
