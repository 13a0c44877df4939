/**
 * Registers the configured compose routes (`get:`): GET, and HEAD through Fastify's
 * exposeHeadRoute. Each answers with one JSON document composed by src/compose/ from its
 * parts; a required part's failure becomes problem+json through plugins/problem-details.ts.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteConfig } from '../src/config/types.js'
import type { ComposeRouteConfig } from '../src/config/compose-route.js'
import { Cancellation } from '../src/compose/cancellation.js'
import { Composer, PARTIAL_HEADER } from '../src/compose/composer.js'
import { notModified } from '../src/cache/response-cache.js'
import { RouteCache, splitUrl } from '../src/cache/route-cache.js'
import type { UpstreamResponse } from '../src/cache/types.js'
import { RequiredPartFailed, describeFailure } from '../src/compose/executor.js'
import { errors } from '../src/errors.js'

export interface ComposeRoutesOptions {
  routes: readonly RouteConfig[]
}

function registerComposeRoute (app: FastifyInstance, route: ComposeRouteConfig): void {
  const composer = new Composer(route, name => app.upstreams.get(name))
  // The answer depends on the forwarded headers (its Vary): they belong in the key.
  const routeCache = route.cache === undefined ? undefined : new RouteCache(route.path, route.cache, composer.plan.vary)

  async function compose (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const cancellation = new Cancellation()
    // The client went away before we answered: stop every part call too. (The response's
    // 'close' also comes after a complete answer; by then the calls have finished.) `on`,
    // not `once`: 'close' comes once per response, and once() wraps and later removes.
    reply.raw.on('close', () => { if (!reply.sent) cancellation.cancel() })
    try {
      if (routeCache !== undefined) return await cached(routeCache, request, reply)
      const res = await composer.compose({
        params: request.params as Record<string, string>,
        query: request.query as Record<string, string | string[]>,
        headers: request.headers,
        requestId: request.id,
        trace: request.trace,
        cancellation
      })
      if (res.missing.length > 0) request.log.warn({ route: route.path, missing: res.missing }, 'composed a partial response')
      reply.code(res.status).headers(res.headers)
      return res.body === undefined ? reply.send() : reply.send(res.body)
    } catch (err) {
      // Parts fail as "cancelled" when the client left: that is not a gateway error.
      if (cancellation.cancelled) throw errors.clientClosed()
      if (err instanceof RequiredPartFailed) {
        request.log.warn({ route: route.path, part: err.part, reason: describeFailure(err.failure) }, 'a required part failed')
        throw err.error
      }
      throw err
    }
  }

  /**
   * Through the response cache: a hit (and a 304 on it) calls no part. The fill is shared by
   * every request waiting on the key, so it is not tied to this client and composes without
   * this client's If-None-Match (the 304 is decided on the result). A partial answer is kept
   * only with `incompleteTtl`, and always reaches clients with `Cache-Control: no-store`.
   */
  async function cached (cache: RouteCache, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = request.params as Record<string, string>
    const url = splitUrl(request.raw.url ?? '/')
    const cacheRequest = cache.request({ keyMethod: 'GET', method: request.method, path: url.path, query: url.query, headers: request.headers, params })
    const { 'if-none-match': _ignored, ...headers } = request.headers
    const fetch = async (): Promise<UpstreamResponse> => {
      const res = await composer.compose({ params, query: request.query as Record<string, string | string[]>, headers, requestId: request.id, trace: request.trace })
      if (res.missing.length > 0) request.log.warn({ route: route.path, missing: res.missing }, 'composed a partial response')
      const tags = cache.tags.responseTags(params, res.parts)
      // Composer marks partial answers no-store for downstream caches; ours decides by `incompleteTtl`.
      const { 'cache-control': _noStore, ...kept } = res.headers
      return { status: res.status, headers: kept, body: res.body ?? Buffer.alloc(0), tags: tags.tags, incomplete: res.missing.length > 0 || !tags.complete }
    }
    const result = await app.responseCache.serve(cacheRequest, fetch)
    const answer = notModified(request.method, request.headers, result) ?? result
    reply.code(answer.status).headers(answer.headers)
    if (result.headers[PARTIAL_HEADER] !== undefined) reply.header('cache-control', 'no-store')
    return answer.status === 304 ? reply.send() : reply.send(answer.body)
  }

  app.route({ method: 'GET', url: route.path, handler: compose, ...app.protection.routeOptions(route) })
}

export default fp<ComposeRoutesOptions>(async function composeRoutes (app, opts) {
  for (const route of opts.routes) {
    if (route.kind === 'compose') registerComposeRoute(app, route)
  }
}, { name: 'compose-routes', fastify: '5.x', dependencies: ['upstreams', 'response-cache', 'protection'] })
