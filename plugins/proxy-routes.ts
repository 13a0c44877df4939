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
import type { HttpMethod, ProxyRouteConfig, RouteConfig } from '../src/config/types.js'
import { errors } from '../src/errors.js'
import { forward } from '../src/upstream/forward.js'
import { upstreamRequestHeaders } from '../src/upstream/headers.js'
import { rewritePath } from '../src/upstream/rewrite.js'

export interface ProxyRoutesOptions {
  routes: readonly RouteConfig[]
  trustProxy: boolean
}

const ALL_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

function registerProxyRoute (app: FastifyInstance, route: ProxyRouteConfig, trustProxy: boolean, claimed: ReadonlySet<string>): void {
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
  // The other methods answer 405 with Allow (RFC 9110 §15.5.6) instead of falling through to 404.
  const others = ALL_METHODS.filter(m => !route.methods.includes(m))
  const allow = route.methods.join(', ')
  async function notAllowed (request: FastifyRequest, reply: FastifyReply): Promise<never> {
    reply.header('allow', allow)
    throw errors.methodNotAllowed(request.method, route.prefix)
  }
  for (const url of urls) {
    // A method a write route serves on this exact path (`post: /api/users` under this prefix) is left to it.
    const free = (methods: readonly HttpMethod[]): HttpMethod[] => methods.filter(m => !claimed.has(`${m} ${url}`))
    const own = free(route.methods)
    const rest = free(others)
    if (own.length > 0) app.route({ method: own, url, exposeHeadRoute: false, handler: proxy })
    if (rest.length > 0) app.route({ method: rest, url, exposeHeadRoute: false, handler: notAllowed })
  }
}

export default fp<ProxyRoutesOptions>(async function proxyRoutes (app, opts) {
  await app.register(async function proxyContext (scope) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', function passThrough (_request, payload, done) {
      done(null, payload)
    })
    const claimed = new Set(opts.routes.flatMap(route => route.kind === 'write' ? [`${route.method} ${route.path}`] : []))
    for (const route of opts.routes) {
      if (route.kind === 'proxy') registerProxyRoute(scope, route, opts.trustProxy, claimed)
    }
  })
}, { name: 'proxy-routes', fastify: '5.x', dependencies: ['upstreams'] })
