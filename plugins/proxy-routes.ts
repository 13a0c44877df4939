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
import type { HttpHeaders, UpstreamResponse } from '../src/cache/types.js'
import type { HttpMethod, ProxyRouteConfig, RouteConfig } from '../src/config/types.js'
import { errors } from '../src/errors.js'
import { forward, type ForwardResponse } from '../src/upstream/forward.js'
import { ClientGone } from '../src/upstream/client-gone.js'
import { upstreamRequestHeaders } from '../src/upstream/headers.js'
import type { TrustFunction } from '../src/upstream/trusted-proxies.js'
import { gatewayPath, rewritePath } from '../src/upstream/rewrite.js'
import type { Validators } from '../src/cache/entry.js'
import { namedServicePaths } from '../src/cache/write-targets.js'
import { notModified, uriTag, type CacheRequest, type CacheResult } from '../src/cache/response-cache.js'
import { RouteCache, splitUrl } from '../src/cache/route-cache.js'
import type { ShortcutRoute } from '../src/cache/hit-shortcut.js'
import { proxyResponseTags } from '../src/cache/route-tags.js'
import { bufferAnswer, TooLargeToCache } from '../src/cache/buffered-answer.js'

export interface ProxyRoutesOptions {
  routes: readonly RouteConfig[]
  /** Whether a peer is a trusted proxy (server.trustProxy). */
  trustProxy: TrustFunction
}

const ALL_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
const UNSAFE: readonly HttpMethod[] = ['POST', 'PUT', 'PATCH', 'DELETE']
/** A shared fill must not carry one client's conditions: the service would answer 304 to everyone. */
const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

/** The request headers with the cache's validators as conditionals (RFC 9110 §13.1). */
function withValidators (headers: Record<string, string | string[]>, validators: Validators): Record<string, string | string[]> {
  const out = { ...headers }
  if (validators.etag !== undefined) out['if-none-match'] = validators.etag
  if (validators.lastModified !== undefined) out['if-modified-since'] = validators.lastModified
  return out
}

/** The service's answer, streamed to the client. */
function sendForwarded (reply: FastifyReply, res: ForwardResponse): void {
  try {
    reply.code(res.statusCode).headers(res.headers).send(res.body)
  } catch (err) {
    // Called from a promise callback: a throw here would be an unhandled rejection.
    res.body.destroy()
    reply.send(err)
  }
}

function registerProxyRoute (app: FastifyInstance, route: ProxyRouteConfig, trustProxy: TrustFunction, claimed: ReadonlySet<string>): void {
  const service = app.upstreams.get(route.service)
  const retryMethods = new Set<string>(route.retryMethods)
  // Authentication and rate limiting (plugins/protection.ts): the same hooks for every method and path below.
  const protect = (): ReturnType<typeof app.protection.routeOptions> => app.protection.routeOptions(route)

  /*
   * The handlers are not async and do not return the reply: an async handler resolving to
   * the reply hands Fastify a thenable it waits on (end-of-stream listeners on every
   * response), and each async layer costs promises per request. They answer through
   * reply.send() once the service did, as callback-style Fastify handlers.
   */
  function proxy (request: FastifyRequest, reply: FastifyReply): void {
    forwardStreaming(request, reply).then(res => {
      sendForwarded(reply, res)
    }, (err: unknown) => {
      reply.send(err)
    })
  }

  function forwardStreaming (request: FastifyRequest, reply: FastifyReply): Promise<ForwardResponse> {
    const raw = request.raw
    const remoteAddress = raw.socket.remoteAddress
    return forward(service, {
      method: request.method as Dispatcher.HttpMethod,
      path: rewritePath(raw.url ?? '/', route.prefix, route.rewrite),
      headers: upstreamRequestHeaders(raw.headers, {
        remoteAddress: remoteAddress ?? '',
        protocol: request.protocol,
        requestId: request.id,
        trustProxy: trustProxy(remoteAddress),
        trace: request.trace
      }),
      body: request.body as Readable | undefined,
      bodyLimit: route.bodyLimit,
      retryable: retryMethods.has(request.method),
      // The client went away before we answered: stop the upstream call too.
      signal: new ClientGone(reply.raw)
    }).then(res => {
      request.upstream = { service: service.name, origin: res.origin }
      return res
    })
  }

  /**
   * Unsafe methods on a route with a cache or `invalidate`: a 2xx invalidates the target URI
   * and the route's tags (RFC 9111 §4.4) before the client hears back, so its next read
   * (on any instance) does not see the old answer.
   */
  function proxyInvalidating (request: FastifyRequest, reply: FastifyReply): void {
    forwardStreaming(request, reply).then(async res => {
      if (res.statusCode >= 200 && res.statusCode < 300) await invalidateAfter(request, res)
      sendForwarded(reply, res)
    }).catch((err: unknown) => {
      reply.send(err)
    })
  }

  async function invalidateAfter (request: FastifyRequest, res: ForwardResponse): Promise<void> {
    // The Location and Content-Location the service named, when this route reaches them.
    const servicePath = splitUrl(rewritePath(request.raw.url ?? '/', route.prefix, route.rewrite)).path
    const named = namedServicePaths(res.headers as HttpHeaders, servicePath, request.headers.host)
      .map(path => gatewayPath(path, route.prefix, route.rewrite))
      .filter(path => path !== undefined)
    try {
      await app.responseCache.invalidateAfterWrite({ method: request.method, status: res.statusCode, path: splitUrl(request.raw.url ?? '/').path, tags: [...(route.invalidate ?? []), ...named.map(uriTag)] })
    } catch (err) {
      request.log.warn({ err }, 'response cache: invalidation after a write failed; cached answers expire with their ttl')
    }
  }

  const routeCache = route.cache === undefined ? undefined : new RouteCache(route.prefix, route.cache)
  /** What the request log names as the upstream of an answer from the cache: one object for every hit. */
  const fromCache = Object.freeze({ service: service.name, origin: 'cache' })

  /**
   * GET/HEAD on a cached route: answered by the response cache, which calls the service on
   * a miss. HEAD is answered from the GET entry (RFC 9111 §4: a stored GET response may
   * satisfy HEAD), so a miss on HEAD fetches (and stores) the GET answer, as nginx does.
   * `shortcut`: this url pattern's entry in the cache-hit shortcut, when it may answer for it.
   */
  function cachedProxy (request: FastifyRequest, reply: FastifyReply, shortcut: ShortcutRoute | undefined): void {
    const cache = routeCache as RouteCache
    // A Range request wants part of the representation: stream it, uncached.
    if (request.headers.range !== undefined) {
      reply.header('x-cache', 'BYPASS')
      proxy(request, reply)
      return
    }
    const url = splitUrl(request.raw.url ?? '/')
    const cacheRequest = cache.request({ keyMethod: 'GET', method: request.method, path: url.path, query: url.query, headers: request.headers, params: {} })
    // A fresh hit in L1 is answered synchronously: no promise, no fetch closure.
    const hit = app.responseCache.hit(cacheRequest)
    if (hit !== undefined) {
      sendCached(request, reply, hit)
      // The router sent this URL here: the next hits for it may skip the router.
      if (shortcut !== undefined) app.hitShortcut?.learn(request.raw.url as string, shortcut, cacheRequest.key)
      return
    }
    cachedFill(request, reply, cache, cacheRequest).catch((err: unknown) => {
      reply.send(err)
    })
  }

  /** Everything but an L1 hit: the response cache serves it, calling the service on a miss. */
  async function cachedFill (request: FastifyRequest, reply: FastifyReply, cache: RouteCache, cacheRequest: CacheRequest): Promise<void> {
    const raw = request.raw
    // Called on a miss only (a hit must not pay for the upstream headers). The fill is
    // shared by every request waiting on this key: it is not tied to this client (its
    // service timeout bounds it), and carries no conditional of this client's.
    const fetch = async (validators?: Validators): Promise<UpstreamResponse> => {
      const headers = upstreamRequestHeaders(raw.headers, { remoteAddress: raw.socket.remoteAddress ?? '', protocol: request.protocol, requestId: request.id, trustProxy: trustProxy(raw.socket.remoteAddress), trace: request.trace })
      for (const name of CONDITIONALS) Reflect.deleteProperty(headers, name)
      const res = await forward(service, {
        method: 'GET',
        path: rewritePath(raw.url ?? '/', route.prefix, route.rewrite),
        // The cache's own conditional request, to revalidate its stale copy.
        headers: validators === undefined ? headers : withValidators(headers, validators),
        body: undefined,
        bodyLimit: route.bodyLimit,
        retryable: retryMethods.has(request.method)
      })
      request.upstream = { service: service.name, origin: res.origin }
      const answer = await bufferAnswer(service.config, res, app.cacheSettings.maxEntryBytes)
      // A 304 has no body to read tags from: the cache keeps the stored response's.
      if (answer.status === 304) return answer
      const contentType = answer.headers['content-type']
      const tags = proxyResponseTags(cache.tags, typeof contentType === 'string' ? contentType : undefined, answer.body)
      // A tag that could not be filled could never invalidate this answer: not kept (reason "incomplete").
      return { ...answer, tags: tags.tags, incomplete: !tags.complete }
    }
    let result
    try {
      result = await app.responseCache.serve(cacheRequest, fetch)
    } catch (err) {
      if (!(err instanceof TooLargeToCache)) throw err
      reply.header('x-cache', 'BYPASS')
      const body = err.claim()
      // A request that waited on another's oversized answer fetches its own, streamed.
      if (body === undefined) {
        proxy(request, reply)
        return
      }
      if (request.method === 'HEAD') {
        // The GET answer was fetched for the cache; HEAD wants its header only.
        body.destroy()
        reply.code(err.status).headers(err.headers).send()
        return
      }
      reply.code(err.status).headers(err.headers).send(body)
      return
    }
    sendCached(request, reply, result)
  }

  function sendCached (request: FastifyRequest, reply: FastifyReply, result: CacheResult): void {
    request.upstream ??= fromCache
    const answer = notModified(request.method, request.headers, result) ?? result
    reply.code(answer.status).headers(answer.headers).send(answer.body)
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
    if (routeCache === undefined && route.invalidate === undefined) {
      // Uncached routes keep the plain streaming path, with nothing added.
      if (own.length > 0) app.route({ method: own, url, exposeHeadRoute: false, handler: proxy, ...protect() })
    } else {
      const reads = own.filter(m => m === 'GET' || m === 'HEAD')
      const writes = own.filter(m => UNSAFE.includes(m))
      const other = own.filter(m => m !== 'GET' && m !== 'HEAD' && !writes.includes(m))
      if (reads.length > 0) {
        const protection = protect()
        const shortcut = routeCache === undefined ? undefined : app.hitShortcut?.route(url, fromCache, routeCache, reads, (protection.onRequest?.length ?? 0) > 0)
        const handler = routeCache === undefined ? proxy : (request: FastifyRequest, reply: FastifyReply): void => { cachedProxy(request, reply, shortcut) }
        app.route({ method: reads, url, exposeHeadRoute: false, handler, ...protection })
      }
      if (writes.length > 0) app.route({ method: writes, url, exposeHeadRoute: false, handler: proxyInvalidating, ...protect() })
      if (other.length > 0) app.route({ method: other, url, exposeHeadRoute: false, handler: proxy, ...protect() })
    }
    if (rest.length > 0) app.route({ method: rest, url, exposeHeadRoute: false, handler: notAllowed, ...protect() })
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
}, { name: 'proxy-routes', fastify: '5.x', dependencies: ['upstreams', 'response-cache', 'protection'] })
