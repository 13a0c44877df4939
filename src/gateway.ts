/**
 * The composition root: turns a validated config into a Fastify server. Cross-cutting
 * plugins come first (errors, logging, store, upstream pools), then the gateway's own
 * endpoints (routes/), then the user's configured routes.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { GatewayConfig } from './config/types.js'
import { openStore } from './store/open-store.js'
import type { Store } from './store/store.js'
import problemDetails from '../plugins/problem-details.js'
import requestLog from '../plugins/request-log.js'
import gracefulClose from '../plugins/graceful-close.js'
import overloadPlugin from '../plugins/overload.js'
import storePlugin from '../plugins/store.js'
import upstreamsPlugin from '../plugins/upstreams.js'
import responseCachePlugin from '../plugins/response-cache.js'
import proxyRoutes from '../plugins/proxy-routes.js'
import composeRoutes from '../plugins/compose-routes.js'
import writeRoutes from '../plugins/write-routes.js'
import healthRoutes from '../routes/health.js'
import outboxPlugin from '../plugins/outbox.js'
import adminRoutes, { adminDisabled } from '../routes/admin/index.js'
import protectionPlugin from '../plugins/protection.js'

export interface GatewayOptions {
  /** A pino logger to use; by default one at the config's level writing to stdout. */
  logger?: FastifyBaseLogger
  /** An already open store (tests share one); by default opened from `config.store`. */
  store?: Store
}

/** A client's request id is kept when it is short and printable, so it cannot forge log lines. */
const REQUEST_ID = /^[\w\-.:@/+=]{1,128}$/

function requestId (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

export async function buildGateway (config: GatewayConfig, opts: GatewayOptions = {}): Promise<FastifyInstance> {
  const store = opts.store ?? await openStore(config.store)
  const logging = opts.logger !== undefined
    ? { loggerInstance: opts.logger }
    : { logger: { level: config.server.logLevel } }
  const app = Fastify({
    ...logging,
    bodyLimit: config.server.bodyLimit,
    trustProxy: config.server.trustProxy,
    // plugins/request-log.ts writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    requestIdHeader: false,
    genReqId: requestId,
    return503OnClosing: true,
    // Idle keep-alive connections are closed at shutdown; busy ones finish their request.
    forceCloseConnections: 'idle'
  }) as unknown as FastifyInstance

  try {
    await app.register(problemDetails)
    await app.register(requestLog)
    await app.register(gracefulClose)
    // Before every route: shedding load must cost as little as possible.
    await app.register(overloadPlugin, { overload: config.server.overload })
    await app.register(storePlugin, { store })
    await app.register(upstreamsPlugin, { services: config.services })
    // After the store: closes before it.
    await app.register(responseCachePlugin, { settings: config.cache })
    // After store and upstreams: closes before them (Fastify closes in reverse order).
    await app.register(outboxPlugin, { options: config.outbox })
    const cachedRoutes = config.routes.flatMap(route => route.kind === 'proxy' && route.cache !== undefined ? [route.prefix] : route.kind === 'compose' && route.cache !== undefined ? [route.path] : [])
    if (config.admin.token !== undefined) await app.register(adminRoutes, { token: config.admin.token, cachedRoutes })
    else await app.register(adminDisabled)
    await app.register(healthRoutes)
    // Before the configured routes: they take their auth and rate-limit hooks from it.
    await app.register(protectionPlugin, { protection: config.protection, routes: config.routes, store: config.store })
    await app.register(proxyRoutes, { routes: config.routes, trustProxy: config.server.trustProxy })
    await app.register(composeRoutes, { routes: config.routes })
    // Needs app.outbox; registered after it, so its recovery loop stops before the outbox closes.
    await app.register(writeRoutes, { routes: config.routes, trustProxy: config.server.trustProxy })
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
