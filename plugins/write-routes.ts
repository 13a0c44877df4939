/**
 * Registers the configured write routes (`put:`/`post:`/`patch:`/`delete:`) and runs the
 * recovery of abandoned write intents while the gateway is up. The write logic itself is
 * plain TypeScript in src/writes/; this file maps HTTP to it.
 *
 * Bodies are JSON (`application/json`, `application/*+json`), read whole as bytes up to
 * the route's bodyLimit: checked against `validate.body`, then sent to the owner exactly
 * as the client wrote them. Other media types get 415, malformed JSON 400.
 *
 * A write route may sit under a proxy prefix (`put: /api/users/:id` under
 * `proxy: /api/users`): Fastify's router prefers the parametric route over the proxy's
 * wildcard for that method, and every other method and path still goes to the proxy.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteConfig, WriteRouteConfig } from '../src/config/types.js'
import type { Outbox } from '../src/outbox/types.js'
import { upstreamRequestHeaders } from '../src/upstream/headers.js'
import type { TrustFunction } from '../src/upstream/trusted-proxies.js'
import { compileBodyCheck } from '../src/writes/body-check.js'
import { compileWriteRoute, type CompiledWriteRoute } from '../src/writes/compiled-route.js'
import { INTENT_QUEUE } from '../src/writes/intents.js'
import { IntentRecovery, recoveryThresholdMs } from '../src/writes/recovery.js'
import { WriteFlow } from '../src/writes/write-flow.js'
import type { ServiceAnswer } from '../src/writes/owner-call.js'
import { splitUrl } from '../src/cache/route-cache.js'
import { expandTemplate, placeholdersOf } from '../src/versioning/template.js'
import { createdId } from '../src/versioning/entity.js'

export interface WriteRoutesOptions {
  routes: readonly RouteConfig[]
  /** Whether a peer is a trusted proxy (server.trustProxy). */
  trustProxy: TrustFunction
  /** Overrides the computed recovery threshold (tests of recovery timing). */
  recoveryThresholdMs?: number
}

const JSON_TYPES = /^application\/([\w.-]+\+)?json(\s*;.*)?$/i

export default fp<WriteRoutesOptions>(async function writeRoutes (app, opts) {
  const routes = opts.routes.filter((route): route is WriteRouteConfig => route.kind === 'write').map(compileWriteRoute)
  if (routes.length === 0) return

  const intents = app.store.queue(INTENT_QUEUE)
  const flow = new WriteFlow({ store: app.store, intents, outbox: app.outbox, upstreams: app.upstreams, log: app.log })
  const thresholdMs = opts.recoveryThresholdMs ??
    recoveryThresholdMs(routes.map(route => app.upstreams.get(route.config.owner.service).config))
  const recovery = new IntentRecovery({
    intents,
    outbox: app.outbox,
    upstreams: app.upstreams,
    routes,
    log: app.log,
    thresholdMs,
    intervalMs: Math.max(50, Math.min(1000, Math.floor(thresholdMs / 4)))
  })
  app.decorate('writeRecovery', recovery)

  await app.register(async function writeContext (scope) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, function rawJson (_request, body, done) {
      done(null, body)
    })
    for (const route of routes) registerWriteRoute(scope, route, flow, opts.trustProxy)
  })

  app.addHook('onReady', async () => { recovery.start() })
  // Runs before the outbox, upstreams and store close (registered after them): no tick outlives them.
  app.addHook('onClose', async () => { await recovery.close() })
}, { name: 'write-routes', fastify: '5.x', dependencies: ['upstreams', 'store', 'outbox', 'response-cache', 'protection'] })

function registerWriteRoute (app: FastifyInstance, route: CompiledWriteRoute, flow: WriteFlow, trustProxy: TrustFunction): void {
  const config = route.config
  const check = compileBodyCheck(config.bodySchema)

  async function write (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = request.body as Buffer | undefined
    const json = check(body)
    const raw = request.raw
    const answer = await flow.execute(route, {
      params: request.params as Record<string, string>,
      headers: upstreamRequestHeaders(raw.headers, {
        remoteAddress: raw.socket.remoteAddress ?? '',
        protocol: request.protocol,
        requestId: request.id,
        trustProxy: trustProxy(raw.socket.remoteAddress),
        trace: request.trace
      }),
      body: body !== undefined && body.length > 0 ? body : undefined,
      json,
      requestId: request.id,
      trace: request.trace,
      afterCommit: async committed => { await invalidate(route, request, committed) }
    })
    request.upstream = { service: config.owner.service, origin: answer.origin }
    return reply.code(answer.status).headers(answer.headers).send(answer.body)
  }

  app.route({ method: config.method, url: config.path, bodyLimit: config.bodyLimit, handler: write, ...app.protection.routeOptions(config) })
}

/**
 * After the owner's 2xx and before the client's answer (beside the recording of the
 * deliveries, see WriteRequest.afterCommit): the route's `invalidate` tags (params, and
 * `{id}` on POST) and the write's gateway path (RFC 9111 §4.4), so a read that follows the
 * write, on any instance, does not get the old cached answer. A store failure here is
 * logged, not turned into an error: the write itself has succeeded.
 */
async function invalidate (route: CompiledWriteRoute, request: FastifyRequest, answer: ServiceAnswer): Promise<void> {
  const params = request.params as Record<string, string>
  try {
    let id: string | undefined
    if (route.invalidate.some(t => placeholdersOf(t).usesId)) id = createdId(answer.headers.location as string | undefined, parseJson(answer.body))
    const tags = route.invalidate.flatMap(t => !placeholdersOf(t).usesId || id !== undefined ? [expandTemplate(t, { params, id }, { encode: false })] : [])
    await request.server.responseCache.invalidateAfterWrite({ method: request.method, status: answer.status, path: splitUrl(request.raw.url ?? '/').path, tags })
  } catch (err) {
    request.log.warn({ err }, 'response cache: invalidation after a write failed; cached answers expire with their ttl')
  }
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Decorated by plugins/outbox.ts (same declaration there). */
    outbox: Outbox
    /** Recovery of abandoned write intents (tests trigger `runOnce`). */
    writeRecovery: IntentRecovery
  }
}
