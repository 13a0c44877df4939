/**
 * Registers the configured proxy routes. Each route matches its prefix and everything
 * below it, streams the request to one of the service's upstream URLs (round-robin)
 * and streams the answer back. Request bodies are not parsed: this encapsulated context
 * replaces every content-type parser with a pass-through, and the body size limit is
 * enforced on the stream itself.
 */
import type { Readable } from 'node:stream'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import type { ProxyRouteConfig, RouteConfig } from '../src/config/types.js'
import { forward } from '../src/upstream/forward.js'
import { upstreamRequestHeaders } from '../src/upstream/headers.js'
import { rewritePath } from '../src/upstream/rewrite.js'

export interface ProxyRoutesOptions {
  routes: readonly RouteConfig[]
  trustProxy: boolean
}

function registerProxyRoute (app: FastifyInstance, route: ProxyRouteConfig, trustProxy: boolean): void {
  const service = app.upstreams.get(route.service)

  async function proxy (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = request.raw
    const controller = new AbortController()
    // The client went away before we answered: stop the upstream call too.
    const onClose = (): void => { if (!reply.raw.writableFinished) controller.abort() }
    reply.raw.once('close', onClose)

    const res = await forward(service, {
      method: request.method as Dispatcher.HttpMethod,
      path: rewritePath(raw.url ?? '/', route.prefix, route.rewrite),
      headers: upstreamRequestHeaders(raw.headers, {
        remoteAddress: raw.socket.remoteAddress ?? '',
        protocol: request.protocol,
        requestId: request.id,
        trustProxy
      }),
      body: request.body as Readable | undefined,
      bodyLimit: route.bodyLimit,
      signal: controller.signal
    })
    request.upstream = { service: service.name, origin: res.origin }
    return reply.code(res.statusCode).headers(res.headers).send(res.body)
  }

  // The gateway's own endpoints (/health, /ready) are static routes and win over '/*'.
  const urls = route.prefix === '/' ? ['/', '/*'] : [route.prefix, `${route.prefix}/*`]
  for (const url of urls) {
    app.route({
      method: [...route.methods],
      url,
      exposeHeadRoute: false,
      handler: proxy
    })
  }
}

export default fp<ProxyRoutesOptions>(async function proxyRoutes (app, opts) {
  await app.register(async function proxyContext (scope) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', function passThrough (_request, payload, done) {
      done(null, payload)
    })
    for (const route of opts.routes) {
      if (route.kind === 'proxy') registerProxyRoute(scope, route, opts.trustProxy)
    }
  })
}, { name: 'proxy-routes', fastify: '5.x', dependencies: ['upstreams'] })
